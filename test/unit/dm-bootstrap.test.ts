import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildDmBootstrapDocument,
  type CpDocument,
  type DmAccountBootstrap,
  ProvisioningError,
  parseProvisioningXml,
  readDmAccount,
  serializeProvisioningXml,
} from '../../omadm/cp-document';
import { buildBootstrapPush, computeBootstrapMac, imsiKey } from '../../omadm/cp-push';
import { CP_WBXML_CONTENT_TYPE, decodeProvisioningWbxml, encodeProvisioningWbxml } from '../../omadm/cp-wbxml';

const account: DmAccountBootstrap = {
  serverId: 'DeviceRollout',
  name: 'DeviceRollout DM',
  address: 'https://dm.example.com/dm',
  client: { username: 'IMEI:351234567890123', password: 'cl!ent&pw', nonce: 'AAECAwQFBgcICQoLDA0ODw==' },
  server: { password: 'srv-pw', nonce: 'EBESExQVFhcYGRobHB0eHw==' },
};

const hex = (b: Buffer) => b.toString('hex');

describe('bootstrap document', () => {
  it('holds the w7 APPLICATION with both APPAUTH levels', () => {
    const doc = buildDmBootstrapDocument(account);
    const app = doc.characteristics[0];
    expect(app?.type).toBe('APPLICATION');
    expect(app?.parms).toEqual([
      { name: 'APPID', value: 'w7' },
      { name: 'PROVIDER-ID', value: 'DeviceRollout' },
      { name: 'NAME', value: 'DeviceRollout DM' },
      { name: 'ADDR', value: 'https://dm.example.com/dm' },
    ]);
    expect(app?.characteristics.map((c) => [c.type, c.parms.map((p) => `${p.name}=${p.value}`)])).toEqual([
      [
        'APPAUTH',
        [
          'AAUTHLEVEL=APPSRV',
          'AAUTHTYPE=DIGEST',
          'AAUTHNAME=DeviceRollout',
          'AAUTHSECRET=srv-pw',
          'AAUTHDATA=EBESExQVFhcYGRobHB0eHw==',
        ],
      ],
      [
        'APPAUTH',
        [
          'AAUTHLEVEL=CLIENT',
          'AAUTHTYPE=DIGEST',
          'AAUTHNAME=IMEI:351234567890123',
          'AAUTHSECRET=cl!ent&pw',
          'AAUTHDATA=AAECAwQFBgcICQoLDA0ODw==',
        ],
      ],
    ]);
  });

  it('serializes to XML and parses back', () => {
    const doc = buildDmBootstrapDocument({ ...account, toNapId: 'INTERNET', extraParms: [{ name: 'INIT' }] });
    const xml = serializeProvisioningXml(doc);
    expect(xml).toContain('<wap-provisioningdoc version="1.0">');
    expect(xml).toContain('<parm name="APPID" value="w7"/>');
    expect(xml).toContain('<parm name="AAUTHSECRET" value="cl!ent&amp;pw"/>');
    expect(xml).toContain('<parm name="INIT"/>');
    expect(parseProvisioningXml(xml)).toEqual(doc);
    expect(readDmAccount(parseProvisioningXml(xml))).toEqual({
      ...account,
      server: { ...account.server, username: 'DeviceRollout' },
      toNapId: 'INTERNET',
      authType: 'DIGEST',
    });
  });

  it('parses a Windows-style w7 document', () => {
    const xml = `<wap-provisioningdoc>
  <characteristic type="APPLICATION">
    <parm name="APPID" value="w7"/>
    <parm name="PROVIDER-ID" value="TestMDM"/>
    <parm name="NAME" value="Test"/>
    <parm name="ADDR" value="https://mdm.example.com/omadm"/>
    <parm name="DEFAULTENCODING" value="application/vnd.syncml.dm+xml"/>
    <characteristic type="APPAUTH">
      <parm name="AAUTHLEVEL" value="CLIENT"/>
      <parm name="AAUTHTYPE" value="DIGEST"/>
      <parm name="AAUTHSECRET" value="dummy"/>
      <parm name="AAUTHDATA" value="nonce"/>
    </characteristic>
    <characteristic type="APPAUTH">
      <parm name="AAUTHLEVEL" value="APPSRV"/>
      <parm name="AAUTHTYPE" value="DIGEST"/>
      <parm name="AAUTHNAME" value="DM Client"/>
      <parm name="AAUTHSECRET" value="dummy"/>
      <parm name="AAUTHDATA" value="nonce"/>
    </characteristic>
  </characteristic>
</wap-provisioningdoc>`;
    const doc = parseProvisioningXml(xml);
    expect(doc.version).toBeUndefined();
    expect(readDmAccount(doc)).toMatchObject({
      serverId: 'TestMDM',
      address: 'https://mdm.example.com/omadm',
      server: { username: 'DM Client' },
    });
    expect(decodeProvisioningWbxml(encodeProvisioningWbxml(doc))).toEqual(doc);
    expect(() => parseProvisioningXml('<foo/>')).toThrow(ProvisioningError);
  });
});

describe('WBXML', () => {
  it('encodes a minimal w7 document to hand-computed bytes', () => {
    const doc: CpDocument = {
      version: '1.0',
      characteristics: [{ type: 'APPLICATION', parms: [{ name: 'APPID', value: 'w7' }], characteristics: [] }],
    };
    const expected = [
      '03', // WBXML 1.3
      '0b', // public id -//WAPFORUM//DTD PROV 1.0//EN
      '6a', // charset UTF-8 (106)
      '00', // string table length
      'c5', // wap-provisioningdoc, with attributes and content
      '46', // version="1.0"
      '01', // END attributes
      'c6', // characteristic, with attributes and content
      '0001', // SWITCH_PAGE to attribute code page 1
      '55', // type="APPLICATION" (page 1)
      '01',
      '87', // parm, with attributes
      '36', // name="APPID" (page 1)
      '06', // value=
      '03773700', // STR_I "w7"
      '01', // END attributes of parm
      '01', // END characteristic
      '01', // END wap-provisioningdoc
    ].join('');
    expect(hex(encodeProvisioningWbxml(doc))).toBe(expected);
    expect(decodeProvisioningWbxml(Buffer.from(expected, 'hex'))).toEqual(doc);
  });

  it('uses the ProvCont tokens for APPAUTH names and values', () => {
    const bytes = hex(encodeProvisioningWbxml(buildDmBootstrapDocument(account)));
    expect(bytes).toContain('c6' + '57' + '01'); // characteristic type="APPAUTH"
    expect(bytes).toContain('87' + '30' + '06' + '8d' + '01'); // AAUTHLEVEL = APPSRV (value token)
    expect(bytes).toContain('87' + '33' + '06' + '93' + '01'); // AAUTHTYPE = DIGEST (value token)
    expect(bytes).toContain(`8730060${'3'}${hex(Buffer.from('CLIENT'))}0001`); // AAUTHLEVEL = "CLIENT" inline
    expect(bytes).toContain(`8738060${'3'}${hex(Buffer.from('DeviceRollout'))}0001`); // PROVIDER-ID
    expect(bytes).toContain(`8734060${'3'}${hex(Buffer.from('https://dm.example.com/dm'))}0001`); // ADDR
  });

  it('switches the attribute page back to 0 after an APPLICATION', () => {
    const doc: CpDocument = {
      version: '1.0',
      characteristics: [
        { type: 'APPLICATION', parms: [{ name: 'APPID', value: 'w7' }], characteristics: [] },
        {
          type: 'NAPDEF',
          parms: [
            { name: 'NAME', value: 'GPRS' },
            { name: 'NAP-ADDRTYPE', value: 'APN' },
          ],
          characteristics: [],
        },
      ],
    };
    const bytes = hex(encodeProvisioningWbxml(doc));
    // NAPDEF (0x55 on page 0) must be preceded by SWITCH_PAGE 0: it is APPLICATION on page 1.
    expect(bytes).toContain('c6' + '0000' + '55' + '01');
    // NAP-ADDRTYPE (0x09) with value token APN (0x89), both page 0
    expect(bytes).toContain('87' + '09' + '06' + '89' + '01');
    expect(decodeProvisioningWbxml(encodeProvisioningWbxml(doc))).toEqual(doc);
  });

  it('round-trips the full bootstrap document, unknown parms included', () => {
    const doc = buildDmBootstrapDocument({
      ...account,
      extraParms: [
        { name: 'INIT' },
        { name: 'DEFAULTENCODING', value: 'application/vnd.syncml.dm+xml' },
        { name: 'ÜNICODE', value: 'wert ✓' },
      ],
    });
    expect(decodeProvisioningWbxml(encodeProvisioningWbxml(doc))).toEqual(doc);
  });

  it('decodes string-table literals and rejects other document types', () => {
    // public id 0 + string table index; name=STR_T "X-CUSTOM"; attribute "value" as LITERAL; STR_T value
    const table = Buffer.from('-//WAPFORUM//DTD PROV 1.0//EN\0X-CUSTOM\0value\0hello\0', 'utf8');
    const custom = table.indexOf('X-CUSTOM');
    const valueAttr = table.indexOf('value\0');
    const hello = table.indexOf('hello');
    const bytes = Buffer.concat([
      Buffer.from([0x03, 0x00, 0x00, 0x6a, table.length]),
      table,
      Buffer.from([0xc5, 0x46, 0x01, 0xc6, 0x50, 0x03]),
      Buffer.from('VENDORCONFIG\0', 'utf8'),
      Buffer.from([0x01, 0x87, 0x05, 0x83, custom, 0x04, valueAttr, 0x83, hello, 0x01, 0x01, 0x01]),
    ]);
    expect(decodeProvisioningWbxml(bytes)).toEqual({
      version: '1.0',
      characteristics: [{ type: 'VENDORCONFIG', parms: [{ name: 'X-CUSTOM', value: 'hello' }], characteristics: [] }],
    });
    expect(() => decodeProvisioningWbxml(Buffer.from([0x03, 0x01, 0x6a, 0x00, 0x05]))).toThrow(/not a provisioning document/);
    expect(() => decodeProvisioningWbxml(Buffer.from([0x03, 0x0b, 0x6a, 0x00, 0xc5, 0x46]))).toThrow(ProvisioningError);
  });
});

describe('push security and WAP push', () => {
  it('packs the IMSI into the NETWPIN key (semi-octets, parity nibble, F padding)', () => {
    expect(hex(imsiKey('234150999999999'))).toBe('2943519099999999');
    expect(hex(imsiKey('1234'))).toBe('1132f4');
    expect(() => imsiKey('12a4')).toThrow(ProvisioningError);
  });

  it('computes MAC = HMAC-SHA1(key, document) as upper-case hex', () => {
    const body = encodeProvisioningWbxml(buildDmBootstrapDocument(account));
    const netw = createHmac('sha1', Buffer.from('2943519099999999', 'hex')).update(body).digest('hex').toUpperCase();
    expect(computeBootstrapMac(body, { sec: 'NETWPIN', imsi: '234150999999999' })).toBe(netw);
    const user = createHmac('sha1', Buffer.from('1234', 'ascii')).update(body).digest('hex').toUpperCase();
    expect(computeBootstrapMac(body, { sec: 'USERPIN', pin: '1234' })).toBe(user);
    const both = createHmac('sha1', Buffer.concat([Buffer.from('2943519099999999', 'hex'), Buffer.from('1234')]))
      .update(body)
      .digest('hex')
      .toUpperCase();
    expect(computeBootstrapMac(body, { sec: 'USERNETWPIN', imsi: '234150999999999', pin: '1234' })).toBe(both);
  });

  it('builds the push: content type with SEC/MAC and the WSP push PDU', () => {
    const doc = buildDmBootstrapDocument(account);
    const push = buildBootstrapPush(doc, { sec: 'USERPIN', pin: '1234' }, 0x01);
    expect(push.contentType).toBe(CP_WBXML_CONTENT_TYPE);
    expect(push.body).toEqual(encodeProvisioningWbxml(doc));
    expect(push.mac).toMatch(/^[0-9A-F]{40}$/);
    expect(push.contentTypeHeader).toBe(`application/vnd.wap.connectivity-wbxml; SEC=USERPIN; MAC=${push.mac}`);
    // TID 01, Push 06, headers length 0x2F: Value-length 1F 2D, media 0xB6, SEC=USERPIN (91 81), MAC (92 "…" 00)
    const head = Buffer.concat([
      Buffer.from([0x01, 0x06, 0x2f, 0x1f, 0x2d, 0xb6, 0x91, 0x81, 0x92]),
      Buffer.from(push.mac as string, 'ascii'),
      Buffer.from([0x00]),
    ]);
    expect(hex(push.pushPdu.subarray(0, head.length))).toBe(hex(head));
    expect(push.pushPdu.subarray(head.length)).toEqual(push.body);

    const plain = buildBootstrapPush(doc);
    expect(plain.contentTypeHeader).toBe(CP_WBXML_CONTENT_TYPE);
    expect(hex(plain.pushPdu.subarray(0, 4))).toBe('000601b6');
  });
});
