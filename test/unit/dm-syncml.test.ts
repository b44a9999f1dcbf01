import { describe, expect, it } from 'vitest';
import {
  AlertCode,
  type AlertCommand,
  type DmCommand,
  type GetCommand,
  type Item,
  normalizeAlertType,
  parseSyncML,
  type ReplaceCommand,
  type ResultsCommand,
  type StatusCommand,
  type SyncMLMessage,
  SyncMLParseError,
  serializeSyncML,
} from '../../omadm/syncml';
import { decodeSyncMLWbxml, encodeSyncMLWbxml } from '../../omadm/syncml-wbxml';

/** All commands (including those nested in Atomic/Sequence), in document order. */
function flattenCommands(commands: readonly DmCommand[]): DmCommand[] {
  return commands.flatMap((c) => (c.cmd === 'Atomic' || c.cmd === 'Sequence' ? [c, ...flattenCommands(c.commands)] : [c]));
}

/** The Item's node URI: Target for server→client commands, Source for client→server data. */
const itemUri = (item: Item): string | undefined => item.target?.locURI ?? item.source?.locURI;

// ---------------------------------------------------------------------------------------------
// Fixtures: published sample messages, reproduced unchanged (XML parts only).
// ---------------------------------------------------------------------------------------------

/** [MS-MDM] v20240423 §4 "Protocol Examples": the client's session initialization message. */
const MS_MDM_CLIENT_INIT = ` <SyncML xmlns="SYNCML:SYNCML1.2">

   <SyncHdr>
     <VerDTD>1.2</VerDTD>
     <VerProto>DM/1.2</VerProto>
     <SessionID>1</SessionID>
     <MsgID>1</MsgID>
     <Target>
       <LocURI>https://contoso.com/management-server</LocURI>
     </Target>
     <Source>
       <LocURI>{unique device id}</LocURI>
     </Source>
   </SyncHdr>

   <SyncBody>
     <Alert>
       <CmdID>2</CmdID>
       <Data>1224</Data>
       <Item>
          <Meta>
             <Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type>
          </Meta>
          <Data>user</Data>
       </Item>
     </Alert>
     <Replace>
       <CmdID>3</CmdID>
       <Item>
         <Source>
           <LocURI>./DevInfo/DevId</LocURI>
         </Source>
         <Data>{unique device id}</Data>
       </Item>
       <Item>
         <Source>
           <LocURI>./DevInfo/Man</LocURI>
         </Source>
         <Data>Microsoft Corporation</Data>
       </Item>
       <Item>
         <Source>
           <LocURI>./DevInfo/Mod</LocURI>
         </Source>
         <Data>{operating system description}</Data>
       </Item>
       <Item>
         <Source>
           <LocURI>./DevInfo/DmV</LocURI>
         </Source>
         <Data>1.3</Data>
       </Item>
       <Item>
         <Source>
           <LocURI>./DevInfo/Lang</LocURI>
         </Source>
         <Data>en-US</Data>
       </Item>
     </Replace>
     <Final />
   </SyncBody>
 </SyncML>`;

/** [MS-MDM] §4: the server's reply (Status for SyncHdr, two Gets). */
const MS_MDM_SERVER_REPLY = ` <SyncML xmlns="SYNCML:SYNCML1.2">

   <SyncHdr>
     <VerDTD>1.2</VerDTD>
     <VerProto>DM/1.2</VerProto>
     <SessionID>1</SessionID>
     <MsgID>1</MsgID>
     <Target>
       <LocURI>{unique device id}</LocURI>
     </Target>
     <Source>
       <LocURI>https://contoso.com/management-server</LocURI>
     </Source>
   </SyncHdr>

   <SyncBody>
     <Status>
       <CmdID>1</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>0</CmdRef>
       <Cmd>SyncHdr</Cmd>
       <Data>200</Data>
     </Status>

     <!-- The server issues Get commands on two nodes -->

     <Get>
       <CmdID>4</CmdID>
       <Item>
         <Target>
           <LocURI>./DevDetail/SwV</LocURI>
         </Target>
       </Item>
     </Get>
     <Get>
       <CmdID>5</CmdID>
       <Item>
         <Target>
           <LocURI>./ DevDetail/HwV</LocURI>
         </Target>
       </Item>
     </Get>
     <Final />
   </SyncBody>
 </SyncML>`;

/** [MS-MDM] §4: the client's Status and Results reply. */
const MS_MDM_CLIENT_RESULTS = ` <SyncML xmlns="SYNCML:SYNCML1.2">

   <SyncHdr>
     <VerDTD>1.2</VerDTD>
     <VerProto>DM/1.2</VerProto>
     <SessionID>1</SessionID>
     <MsgID>2</MsgID>
     <Target>
       <LocURI>https://contoso.com/management-server</LocURI>
     </Target>
     <Source>
       <LocURI>{unique device id}</LocURI>
     </Source>
   </SyncHdr>

   <SyncBody>
     <Status>
       <CmdID>1</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>0</CmdRef>
       <Cmd>SyncHdr</Cmd>
       <Data>200</Data>
     </Status>
     <Status>
       <CmdID>2</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>4</CmdRef>
       <Cmd>Get</Cmd>
       <Data>200</Data>
     </Status>
     <Status>
       <CmdID>3</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>5</CmdRef>
       <Cmd>Get</Cmd>
       <Data>200</Data>
     </Status>
     <Results>
       <CmdID>4</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>4</CmdRef>
       <Cmd>Get</Cmd>
       <Item>
         <Source>
           <LocURI>./DevDetail/SwV</LocURI>
         </Source>
         <Meta>
           <Format xmlns="syncml:metinf">chr</Format>
         </Meta>
         <Data>[software version returned here]</Data>
       </Item>
     </Results>
     <Results>
       <CmdID>5</CmdID>
       <MsgRef>1</MsgRef>
       <CmdRef>5</CmdRef>
       <Cmd>Get</Cmd>
       <Item>
         <Source>
           <LocURI>./DevDetail/HwV</LocURI>
         </Source>
         <!-- Class instance - opaque to the server -->
         <Data>[hardware version returned here]</Data>
       </Item>
     </Results>
     <Final />
   </SyncBody>
 </SyncML>`;

/** Windows client-management docs, "Structure of OMA DM provisioning files" (server message). */
const MS_DOCS_STRUCTURE_GET = `<SyncML xmlns='SYNCML:SYNCML1.2'>
   <SyncHdr>
      <VerDTD>1.2</VerDTD>
      <VerProto>DM/1.2</VerProto>
      <SessionID>1</SessionID>
      <MsgID>1</MsgID>
      <Target>
         <LocURI>{unique device ID}</LocURI>
      </Target>
      <Source>
         <LocURI>https://www.contoso.com/mgmt-server</LocURI>
      </Source>
   </SyncHdr>
   <SyncBody>
      <!-- query a device OS system version -->
      <Get>
         <CmdID>2</CmdID>
         <Item>
            <Target>
               <LocURI>./DevDetail/SwV</LocURI>
            </Target>
         </Item>
      </Get>
      <!-- Update device policy -->

      <Final />
   </SyncBody>
</SyncML>`;

/**
 * Windows docs, "Disconnecting from the management infrastructure (unenrollment)": a first package
 * with a Generic Alert — as published, including its "syncml:metinfo" namespaces, the leading
 * space in Type, the duplicate CmdID and the "..." placeholder item.
 */
const MS_DOCS_UNENROLL_GENERIC_ALERT = `<SyncML xmlns='SYNCML:SYNCML1.2'>
   <SyncHdr>
      <VerDTD>1.2</VerDTD>
      <VerProto>DM/1.2</VerProto>
      <SessionID>1</SessionID>
      <MsgID>1</MsgID>
      <Target>
         <LocURI>{unique device ID}</LocURI>
      </Target>
      <Source>
         <LocURI>https://www.thephone-company.com/mgmt-server</LocURI>
      </Source>
   </SyncHdr>
   <SyncBody>
      <Alert>
    <CmdID>2</CmdID>
        <Data>1226</Data> <!-- generic alert -->
        <Item>
          <Meta>
             <Type xmlns="syncml:metinfo"> com.microsoft:mdm.unenrollment.userrequest</Type>
          <Format xmlns= "syncml:metinfo">int</Format>
           </Meta>
        <Data>1</Data>
         </Item>
       </Alert>

<!-- other device information -->
      <Replace>
         <CmdID>2</CmdID>
         <Item>
            <Source>
               <LocURI>./DevInfo/DevID</LocURI>
            </Source>
         <Data>{unique device ID}</Data>
         </Item>
         <Item>
        ...
         </Item>
      </Replace>
      <Final/>
   </SyncBody>
</SyncML>`;

/** OMA-TS-DM_Protocol 1.2 §"Package 1: Initialization from client to server" example (Alert 1200). */
const OMA_PKG1_SERVER_INITIATED = `<SyncML xmlns='SYNCML:SYNCML1.2'>
  <SyncHdr>
     <VerDTD>1.2</VerDTD>
     <VerProto>DM/1.2</VerProto>
     <SessionID>1</SessionID>
     <MsgID>1</MsgID>
     <Target>
       <LocURI>http://www.syncml.org/mgmt-server</LocURI>
     </Target>
     <Source>
       <LocURI>IMEI:493005100592800</LocURI>
     </Source>
     <Cred> <!-- Client credentials are mandatory if the transport layer is not providing authentication.-->
      <Meta>
        <Type xmlns="syncml:metinf">syncml:auth-basic</Type>
        <Format xmlns='syncml:metinf'>b64</Format>
      </Meta>
      <Data>
        <!-- base64 formatting of userid:password --> </Data>
    </Cred>
    <Meta> <!-- Maximum message size for the client -->
      <MaxMsgSize xmlns="syncml:metinf">5000</MaxMsgSize>
    </Meta>
 </SyncHdr>
<SyncBody>
  <Alert>
    <CmdID>1</CmdID>
    <Data>1200</Data> <!-- Server-initiated session -->
  </Alert>
  <Replace>
    <CmdID>3</CmdID>
    <Item>
        <Source><LocURI>./DevInfo/DevId</LocURI></Source>
        <Meta>
          <Format xmlns='syncml:metinf'>chr</Format>
          <Type xmlns='syncml:metinf'>text/plain</Type>
        </Meta>
        <Data>IMEI:493005100592800</Data> </Item>
    <Item>
    <Source><LocURI>./DevInfo/Man</LocURI></Source>
    <Meta>
      <Format xmlns='syncml:metinf'>chr</Format>
      <Type xmlns='syncml:metinf'>text/plain</Type>
    </Meta>
    <Data>Device Factory, Inc.</Data>
    </Item>
   <Item>
      <Source><LocURI>./DevInfo/Mod</LocURI></Source>
      <Meta>
        <Format xmlns='syncml:metinf'>chr</Format>
        <Type xmlns='syncml:metinf'>text/plain</Type>
      </Meta>
        <Data>SmartPhone2000</Data>
   </Item>
   <Item>
     <Source><LocURI>./DevInfo/DmV</LocURI></Source>
     <Meta>
       <Format xmlns='syncml:metinf'>chr</Format>
      <Type xmlns='syncml:metinf'>text/plain</Type>
     </Meta>
     <Data>1.0.0.1</Data>
   </Item>
   <Item>
      <Source><LocURI>./DevInfo/Lang</LocURI></Source>
      <Meta>
        <Format xmlns='syncml:metinf'>chr</Format>
        <Type xmlns='syncml:metinf'>text/plain</Type>
      </Meta>
      <Data>en-US</Data>
       </Item>
    </Replace>
    <Final/>
  </SyncBody>
 </SyncML>`;

/** A Windows Mobile style client-initiated first message (Alert 1201, DevInfo, MD5 Cred, DOCTYPE, prefixes). */
const CLIENT_1201_WITH_DOCTYPE = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>2DF</SessionID><MsgID>1</MsgID>
<Target><LocURI>https://dm.example.com/dm</LocURI></Target><Source><LocURI>IMEI:351234567890123</LocURI><LocName>dev-351234567890123</LocName></Source>
<Cred><Meta><m:Format xmlns:m="syncml:metinf">b64</m:Format><m:Type xmlns:m="syncml:metinf">syncml:auth-md5</m:Type></Meta><Data>4p4RdCYSC+f0Jb3U2gBpEQ==</Data></Cred>
<Meta><MaxMsgSize xmlns="syncml:metinf">16384</MaxMsgSize><MaxObjSize xmlns="syncml:metinf">1048576</MaxObjSize></Meta></SyncHdr>
<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>
<Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>IMEI:351234567890123</Data></Item>
<Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>HTC &amp; Co</Data></Item>
<Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data><![CDATA[Touch <Pro>]]></Data></Item></Replace><Final/></SyncBody></SyncML>`;

function roundTrip(msg: SyncMLMessage): SyncMLMessage {
  return parseSyncML(serializeSyncML(msg));
}

describe('parseSyncML: Microsoft samples', () => {
  it('parses the [MS-MDM] client initialization message', () => {
    const m = parseSyncML(MS_MDM_CLIENT_INIT);
    expect(m.namespace).toBe('SYNCML:SYNCML1.2');
    expect(m.header).toEqual({
      verDTD: '1.2',
      verProto: 'DM/1.2',
      sessionId: '1',
      msgId: '1',
      target: { locURI: 'https://contoso.com/management-server' },
      source: { locURI: '{unique device id}' },
    });
    expect(m.final).toBe(true);
    expect(m.commands.map((c) => c.cmd)).toEqual(['Alert', 'Replace']);
    const alert = m.commands[0] as AlertCommand;
    expect(alert).toEqual({
      cmd: 'Alert',
      cmdId: '2',
      code: AlertCode.CLIENT_EVENT,
      items: [{ meta: { type: 'com.microsoft/MDM/LoginStatus' }, data: 'user' }],
    });
    const replace = m.commands[1] as ReplaceCommand;
    expect(replace.cmdId).toBe('3');
    expect(replace.items.map((i) => [itemUri(i), i.data])).toEqual([
      ['./DevInfo/DevId', '{unique device id}'],
      ['./DevInfo/Man', 'Microsoft Corporation'],
      ['./DevInfo/Mod', '{operating system description}'],
      ['./DevInfo/DmV', '1.3'],
      ['./DevInfo/Lang', 'en-US'],
    ]);
  });

  it('parses the [MS-MDM] server reply with Status and Get', () => {
    const m = parseSyncML(MS_MDM_SERVER_REPLY);
    expect(m.commands.map((c) => c.cmd)).toEqual(['Status', 'Get', 'Get']);
    const st = m.commands[0] as StatusCommand;
    expect(st).toEqual({
      cmd: 'Status',
      cmdId: '1',
      msgRef: '1',
      cmdRef: '0',
      cmdName: 'SyncHdr',
      targetRefs: [],
      sourceRefs: [],
      code: 200,
      items: [],
    });
    const get2 = m.commands[2] as GetCommand;
    expect(get2.cmdId).toBe('5');
    // The sample's stray space is content of the URI, kept as published.
    expect(get2.items[0]?.target?.locURI).toBe('./ DevDetail/HwV');
  });

  it('parses the [MS-MDM] client Status/Results reply, keeping command order', () => {
    const m = parseSyncML(MS_MDM_CLIENT_RESULTS);
    expect(m.header.msgId).toBe('2');
    expect(m.commands.map((c) => `${c.cmd}:${c.cmdId}`)).toEqual(['Status:1', 'Status:2', 'Status:3', 'Results:4', 'Results:5']);
    const getStatus = m.commands[1] as StatusCommand;
    expect([getStatus.msgRef, getStatus.cmdRef, getStatus.cmdName, getStatus.code]).toEqual(['1', '4', 'Get', 200]);
    const r1 = m.commands[3] as ResultsCommand;
    expect(r1).toEqual({
      cmd: 'Results',
      cmdId: '4',
      msgRef: '1',
      cmdRef: '4',
      targetRefs: [],
      sourceRefs: [],
      items: [{ source: { locURI: './DevDetail/SwV' }, meta: { format: 'chr' }, data: '[software version returned here]' }],
    });
    const r2 = m.commands[4] as ResultsCommand;
    expect(r2.items[0]?.data).toBe('[hardware version returned here]');
  });

  it('parses the docs sample with single-quoted namespace and comments', () => {
    const m = parseSyncML(MS_DOCS_STRUCTURE_GET);
    expect(m.commands).toEqual([{ cmd: 'Get', cmdId: '2', items: [{ target: { locURI: './DevDetail/SwV' } }] }]);
    expect(m.final).toBe(true);
  });

  it('parses the unenrollment Generic Alert sample as published', () => {
    const m = parseSyncML(MS_DOCS_UNENROLL_GENERIC_ALERT);
    const alert = m.commands[0] as AlertCommand;
    expect(alert.code).toBe(AlertCode.GENERIC_ALERT);
    expect(alert.items[0]?.meta).toEqual({ type: 'com.microsoft:mdm.unenrollment.userrequest', format: 'int' });
    expect(alert.items[0]?.data).toBe('1');
    const replace = m.commands[1] as ReplaceCommand;
    expect(replace.cmdId).toBe('2');
    expect(replace.items).toHaveLength(2);
    expect(itemUri(replace.items[0] ?? {})).toBe('./DevInfo/DevID');
  });
});

describe('parseSyncML: OMA and device samples', () => {
  it('parses the OMA Package 1 example (Alert 1200, basic Cred, MaxMsgSize, comments)', () => {
    const m = parseSyncML(OMA_PKG1_SERVER_INITIATED);
    expect(m.header.cred?.meta).toEqual({ type: 'syncml:auth-basic', format: 'b64' });
    expect(m.header.cred?.data).toBe('');
    expect(m.header.meta).toEqual({ maxMsgSize: 5000 });
    const alert = m.commands[0] as AlertCommand;
    expect(alert.code).toBe(AlertCode.SERVER_INITIATED_MGMT);
    const replace = m.commands[1] as ReplaceCommand;
    expect(replace.items.map((i) => i.data)).toEqual([
      'IMEI:493005100592800',
      'Device Factory, Inc.',
      'SmartPhone2000',
      '1.0.0.1',
      'en-US',
    ]);
    expect(replace.items[0]?.meta).toEqual({ format: 'chr', type: 'text/plain' });
  });

  it('accepts a DOCTYPE, prefixed MetInf elements, entities and CDATA', () => {
    const m = parseSyncML(Buffer.from(CLIENT_1201_WITH_DOCTYPE, 'utf8'));
    expect(m.header.sessionId).toBe('2DF');
    expect(m.header.source).toEqual({ locURI: 'IMEI:351234567890123', locName: 'dev-351234567890123' });
    expect(m.header.cred).toEqual({ meta: { format: 'b64', type: 'syncml:auth-md5' }, data: '4p4RdCYSC+f0Jb3U2gBpEQ==' });
    expect(m.header.meta).toEqual({ maxMsgSize: 16384, maxObjSize: 1048576 });
    expect((m.commands[0] as AlertCommand).code).toBe(1201);
    const replace = m.commands[1] as ReplaceCommand;
    expect(replace.items[1]?.data).toBe('HTC & Co');
    expect(replace.items[2]?.data).toBe('Touch <Pro>');
  });

  it('parses Status with Chal/NextNonce, TargetRef/SourceRef and the SCOMO Generic Alert', () => {
    const xml = `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>7</SessionID><MsgID>3</MsgID>
      <Target><LocURI>https://dm.example.com/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody>
      <Status><CmdID>1</CmdID><MsgRef>2</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><TargetRef>IMEI:1</TargetRef><SourceRef>https://dm.example.com/dm</SourceRef>
        <Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">AAECAw==</NextNonce></Meta></Chal><Data>212</Data></Status>
      <Status><CmdID>2</CmdID><MsgRef>2</MsgRef><CmdRef>4</CmdRef><Cmd>Exec</Cmd><TargetRef>./SCOMO/Download/p1/Operations/DownloadInstall</TargetRef><Data>202</Data></Status>
      <Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>job-42</Correlator><Item><Source><LocURI>./SCOMO/Download/p1/Operations/DownloadInstall</LocURI></Source>
        <Meta><Type xmlns="syncml:metinf">Reversed-Domain-Name: org.openmobilealliance.dm.softwarecomponent.OperationComplete</Type><Format xmlns="syncml:metinf">int</Format><Mark xmlns="syncml:metinf">critical</Mark></Meta><Data>1200</Data></Item></Alert>
      <Final/></SyncBody></SyncML>`;
    const m = parseSyncML(xml);
    const hdrStatus = m.commands[0] as StatusCommand;
    expect(hdrStatus.chal).toEqual({ meta: { format: 'b64', type: 'syncml:auth-md5', nextNonce: 'AAECAw==' } });
    expect(hdrStatus.targetRefs).toEqual(['IMEI:1']);
    expect(hdrStatus.sourceRefs).toEqual(['https://dm.example.com/dm']);
    expect((m.commands[1] as StatusCommand).code).toBe(202);
    const ga = m.commands[2] as AlertCommand;
    expect(ga.correlator).toBe('job-42');
    expect(normalizeAlertType(ga.items[0]?.meta?.type)).toBe('org.openmobilealliance.dm.softwarecomponent.OperationComplete');
    expect(ga.items[0]?.meta?.mark).toBe('critical');
  });

  it('keeps Data holding XML elements as inner XML, and parses Atomic/Sequence and unknown elements', () => {
    const xml = `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>
      <Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>https://s</LocURI></Source></SyncHdr><SyncBody>
      <Atomic><CmdID>1</CmdID><Replace><CmdID>2</CmdID><NoResp/><Item><Target><LocURI>./a</LocURI></Target><Data><MgmtTree><Node><NodeName>a</NodeName></Node></MgmtTree></Data></Item></Replace>
        <Sequence><CmdID>3</CmdID><Delete><CmdID>4</CmdID><Item><Target><LocURI>./b</LocURI></Target></Item></Delete></Sequence></Atomic>
      <Frobnicate><CmdID>5</CmdID></Frobnicate><Final/></SyncBody></SyncML>`;
    const m = parseSyncML(xml);
    expect(flattenCommands(m.commands).map((c) => c.cmd)).toEqual(['Atomic', 'Replace', 'Sequence', 'Delete', 'Unknown']);
    const atomic = m.commands[0];
    if (atomic?.cmd !== 'Atomic') throw new Error('expected Atomic');
    const replace = atomic.commands[0] as ReplaceCommand;
    expect(replace.noResp).toBe(true);
    expect(replace.items[0]?.data).toBe('<MgmtTree><Node><NodeName>a</NodeName></Node></MgmtTree>');
    expect(m.commands[1]).toEqual({ cmd: 'Unknown', element: 'Frobnicate', cmdId: '5' });
  });

  it('rejects malformed or non-SyncML input', () => {
    expect(() => parseSyncML('<SyncML><SyncHdr>')).toThrow(SyncMLParseError);
    expect(() => parseSyncML('<html><body/></html>')).toThrow(/root element/);
    expect(() => parseSyncML('<SyncML><SyncBody/></SyncML>')).toThrow(/SyncHdr/);
    const noMsgId = MS_MDM_CLIENT_INIT.replace('<MsgID>1</MsgID>', '');
    expect(() => parseSyncML(noMsgId)).toThrow(/MsgID/);
    const badAlert = MS_MDM_CLIENT_INIT.replace('<Data>1224</Data>', '<Data>soon</Data>');
    expect(() => parseSyncML(badAlert)).toThrow(/not an integer/);
    const noCmdId = MS_MDM_CLIENT_INIT.replace('<CmdID>3</CmdID>', '');
    expect(() => parseSyncML(noCmdId)).toThrow(/CmdID/);
  });
});

describe('serializeSyncML', () => {
  it('round-trips every fixture to an equal model', () => {
    for (const xml of [
      MS_MDM_CLIENT_INIT,
      MS_MDM_SERVER_REPLY,
      MS_MDM_CLIENT_RESULTS,
      MS_DOCS_STRUCTURE_GET,
      MS_DOCS_UNENROLL_GENERIC_ALERT,
      OMA_PKG1_SERVER_INITIATED,
      CLIENT_1201_WITH_DOCTYPE,
    ]) {
      const m = parseSyncML(xml);
      expect(roundTrip(m)).toEqual(m);
      // pretty printing changes whitespace only
      expect(parseSyncML(serializeSyncML(m, { indent: '  ' }))).toEqual(m);
    }
  });

  it('writes elements in DTD order with MetInf namespaces, escaping text', () => {
    const msg: SyncMLMessage = {
      header: {
        verDTD: '1.2',
        verProto: 'DM/1.2',
        sessionId: '5',
        msgId: '2',
        target: { locURI: 'IMEI:1' },
        source: { locURI: 'https://dm.example.com/dm?a=1&b=2' },
        cred: { meta: { type: 'syncml:auth-md5', format: 'b64' }, data: 'abc=' },
        meta: { maxMsgSize: 8192 },
      },
      commands: [
        {
          cmd: 'Status',
          cmdId: '1',
          msgRef: '1',
          cmdRef: '0',
          cmdName: 'SyncHdr',
          targetRefs: ['https://dm.example.com/dm'],
          sourceRefs: ['IMEI:1'],
          chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: 'AAEC' } },
          code: 212,
          items: [],
        },
        {
          cmd: 'Exec',
          cmdId: '2',
          correlator: 'c<1>',
          items: [{ target: { locURI: './SCOMO/Download/p/Operations/DownloadInstall' } }],
        },
      ],
      final: true,
    };
    const xml = serializeSyncML(msg);
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>' +
        '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>5</SessionID><MsgID>2</MsgID>' +
        '<Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>https://dm.example.com/dm?a=1&amp;b=2</LocURI></Source>' +
        '<Cred><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta><Data>abc=</Data></Cred>' +
        '<Meta><MaxMsgSize xmlns="syncml:metinf">8192</MaxMsgSize></Meta></SyncHdr><SyncBody>' +
        '<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><TargetRef>https://dm.example.com/dm</TargetRef><SourceRef>IMEI:1</SourceRef>' +
        '<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type><NextNonce xmlns="syncml:metinf">AAEC</NextNonce></Meta></Chal>' +
        '<Data>212</Data></Status>' +
        '<Exec><CmdID>2</CmdID><Correlator>c&lt;1&gt;</Correlator><Item><Target><LocURI>./SCOMO/Download/p/Operations/DownloadInstall</LocURI></Target></Item></Exec>' +
        '<Final/></SyncBody></SyncML>',
    );
    expect(roundTrip(msg)).toEqual({ ...msg, namespace: 'SYNCML:SYNCML1.2' });
  });

  it('round-trips every fixture through WBXML (with and without string table, both public id forms)', () => {
    for (const xml of [
      MS_MDM_CLIENT_INIT,
      MS_MDM_SERVER_REPLY,
      MS_MDM_CLIENT_RESULTS,
      MS_DOCS_STRUCTURE_GET,
      MS_DOCS_UNENROLL_GENERIC_ALERT,
      OMA_PKG1_SERVER_INITIATED,
      CLIENT_1201_WITH_DOCTYPE,
    ]) {
      const m = { ...parseSyncML(xml), namespace: 'SYNCML:SYNCML1.2' };
      const wbxml = encodeSyncMLWbxml(m);
      expect(decodeSyncMLWbxml(wbxml)).toEqual(m);
      expect(decodeSyncMLWbxml(encodeSyncMLWbxml(m, { stringTable: false, numericPublicId: true }))).toEqual(m);
      // binary is smaller than the XML text
      expect(wbxml.length).toBeLessThan(Buffer.byteLength(serializeSyncML(m)));
    }
  });

  it('omits Final and the declaration on request', () => {
    const m = parseSyncML(MS_DOCS_STRUCTURE_GET);
    const xml = serializeSyncML({ ...m, final: false }, { declaration: false });
    expect(xml.startsWith("<SyncML xmlns='SYNCML:SYNCML1.2'>")).toBe(false);
    expect(xml.startsWith('<SyncML xmlns="SYNCML:SYNCML1.2">')).toBe(true);
    expect(xml).not.toContain('<Final/>');
    expect(parseSyncML(xml).final).toBe(false);
  });
});
