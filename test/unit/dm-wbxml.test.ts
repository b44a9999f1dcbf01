/**
 * The SyncML DM WBXML codec (omadm/syncml-wbxml.ts) against an independent one: libwbxml's
 * `xml2wbxml` / `wbxml2xml` (Debian libwbxml2-utils, installed by scripts/ci/wbxml.sh). Both tools
 * must be on PATH: the cross-check fails, it is never skipped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeMd5Digest } from '../../omadm/dm-auth';
import { withInstallJob } from '../../omadm/scomo';
import { handleDmMessage } from '../../omadm/session';
import { createDeviceState, type DmDeviceState } from '../../omadm/session-model';
import type { DmCommand, StatusCommand } from '../../omadm/syncml';
import { parseSyncML, type SyncMLMessage, SyncMLParseError, serializeSyncML } from '../../omadm/syncml';
import { decodeSyncMLWbxml, encodeSyncMLWbxml } from '../../omadm/syncml-wbxml';

const dir = mkdtempSync(join(tmpdir(), 'dm-wbxml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function run(tool: 'xml2wbxml' | 'wbxml2xml', input: Buffer | string, args: string[] = []): Buffer {
  seq += 1;
  const inFile = join(dir, `in-${seq}`);
  const outFile = join(dir, `out-${seq}`);
  writeFileSync(inFile, input);
  try {
    execFileSync(tool, [...args, '-o', outFile, inFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error(`${tool} is missing: run scripts/ci/wbxml.sh (libwbxml2-utils)`);
    throw new Error(`${tool} failed: ${err.stderr?.toString() ?? err.message}`);
  }
  return readFileSync(outFile);
}

const SERVER = 'https://dm.example.com/dm';
const DEVICE = 'IMEI:351234567890123';

const clientInit: SyncMLMessage = {
  header: {
    verDTD: '1.2',
    verProto: 'DM/1.2',
    sessionId: '3A',
    msgId: '1',
    target: { locURI: SERVER },
    source: { locURI: DEVICE, locName: 'dev-1' },
    cred: { meta: { format: 'b64', type: 'syncml:auth-md5' }, data: 'x3t0o9V6pcw6Yq+Zz2bJhw==' },
    meta: { maxMsgSize: 4096, maxObjSize: 65536 },
  },
  commands: [
    { cmd: 'Alert', cmdId: '1', code: 1201, items: [] },
    {
      cmd: 'Replace',
      cmdId: '2',
      items: [
        { source: { locURI: './DevInfo/DevId' }, data: DEVICE },
        { source: { locURI: './DevInfo/Man' }, data: 'HTC' },
        { source: { locURI: './DevInfo/Mod' }, data: 'Touch Pro — ünïcode' },
        { source: { locURI: './DevInfo/DmV' }, data: '1.2' },
        { source: { locURI: './DevInfo/Lang' }, data: 'en-US' },
      ],
    },
  ],
  final: true,
};

const serverReply: SyncMLMessage = {
  header: {
    verDTD: '1.2',
    verProto: 'DM/1.2',
    sessionId: '3A',
    msgId: '1',
    target: { locURI: DEVICE },
    source: { locURI: SERVER },
    cred: { meta: { format: 'b64', type: 'syncml:auth-md5' }, data: 'q83vEjRWeJq8vN7wEjRWeA==' },
    meta: { maxMsgSize: 65536 },
  },
  commands: [
    {
      cmd: 'Status',
      cmdId: '1',
      msgRef: '1',
      cmdRef: '0',
      cmdName: 'SyncHdr',
      targetRefs: [SERVER],
      sourceRefs: [DEVICE],
      chal: { meta: { format: 'b64', type: 'syncml:auth-md5', nextNonce: Buffer.from([0, 1, 2, 250, 255]).toString('base64') } },
      code: 212,
      items: [],
    },
    {
      cmd: 'Status',
      cmdId: '2',
      msgRef: '1',
      cmdRef: '1',
      cmdName: 'Alert',
      targetRefs: [],
      sourceRefs: [],
      code: 200,
      items: [],
    },
    {
      cmd: 'Add',
      cmdId: '3',
      items: [
        { target: { locURI: './SCOMO/Download/pkg-1' }, meta: { format: 'node' } },
        {
          target: { locURI: './SCOMO/Download/pkg-1/PkgURL' },
          meta: { format: 'chr', type: 'text/plain' },
          data: 'https://files.example.com/d/t1cket?x=1&y=<2>',
        },
      ],
    },
    {
      cmd: 'Exec',
      cmdId: '4',
      correlator: 'inst-42',
      items: [{ target: { locURI: './SCOMO/Download/pkg-1/Operations/DownloadInstall' } }],
    },
    { cmd: 'Get', cmdId: '5', items: [{ target: { locURI: './DevDetail/SwV' } }] },
  ],
  final: true,
};

const clientResults: SyncMLMessage = {
  header: {
    verDTD: '1.2',
    verProto: 'DM/1.2',
    sessionId: '3A',
    msgId: '2',
    target: { locURI: SERVER },
    source: { locURI: DEVICE },
  },
  commands: [
    {
      cmd: 'Status',
      cmdId: '1',
      msgRef: '1',
      cmdRef: '0',
      cmdName: 'SyncHdr',
      targetRefs: [],
      sourceRefs: [],
      code: 212,
      items: [],
    },
    {
      cmd: 'Results',
      cmdId: '2',
      msgRef: '1',
      cmdRef: '5',
      targetRefs: [],
      sourceRefs: [],
      items: [{ source: { locURI: './DevDetail/SwV' }, meta: { format: 'chr', size: 6 }, data: '6.1.0', moreData: true }],
    },
    {
      cmd: 'Alert',
      cmdId: '3',
      code: 1226,
      correlator: 'inst-42',
      items: [
        {
          source: { locURI: './SCOMO/Download/pkg-1/Operations/DownloadInstall' },
          meta: { type: 'org.openmobilealliance.softwaremanagement.operationcomplete', format: 'int', mark: 'critical' },
          data: '1200',
        },
      ],
    },
    {
      cmd: 'Atomic',
      cmdId: '4',
      commands: [{ cmd: 'Delete', cmdId: '5', noResp: true, items: [{ target: { locURI: './Vendor/x' } }] }],
    },
    { cmd: 'Alert', cmdId: '6', code: 1222, items: [] },
  ],
  final: false,
};

const MESSAGES = { clientInit, serverReply, clientResults };
const withNs = (m: SyncMLMessage): SyncMLMessage => ({ ...m, namespace: 'SYNCML:SYNCML1.2' });

describe('WBXML codec against libwbxml (xml2wbxml / wbxml2xml)', () => {
  for (const [name, msg] of Object.entries(MESSAGES)) {
    it(`wbxml2xml decodes what our encoder writes: ${name}`, () => {
      for (const options of [{}, { stringTable: false, numericPublicId: true }]) {
        const xml = run('wbxml2xml', encodeSyncMLWbxml(msg, options), ['-m', '0']).toString('utf8');
        expect(xml).toContain('-//SYNCML//DTD SyncML 1.2//EN');
        expect(parseSyncML(xml)).toEqual(withNs(msg));
      }
    });

    it(`our decoder reads what xml2wbxml writes: ${name}`, () => {
      for (const args of [[], ['-n'], ['-v', '1.3']]) {
        const wbxml = run('xml2wbxml', serializeSyncML(msg), args);
        expect(decodeSyncMLWbxml(wbxml)).toEqual(withNs(msg));
      }
    });
  }

  it('carries NextNonce as opaque binary that libwbxml shows as the same base64', () => {
    const nonce = serverReply.commands[0]?.cmd === 'Status' ? serverReply.commands[0].chal?.meta.nextNonce : undefined;
    expect(nonce).toBe('AAEC+v8=');
    const wbxml = encodeSyncMLWbxml(serverReply);
    // OPAQUE (0xC3), length 5, the raw nonce bytes
    expect(wbxml.includes(Buffer.from([0xc3, 0x05, 0x00, 0x01, 0x02, 0xfa, 0xff]))).toBe(true);
    expect(run('wbxml2xml', wbxml, ['-m', '0']).toString('utf8')).toContain(
      '<NextNonce xmlns="syncml:metinf">AAEC+v8=</NextNonce>',
    );
  });
});

describe('a whole WBXML session through libwbxml', () => {
  it('the server reads every client message xml2wbxml encodes; wbxml2xml reads every reply it sends (split, chunked)', () => {
    const nonce = Buffer.from('n0').toString('base64');
    let state: DmDeviceState = withInstallJob(
      createDeviceState({
        bootstrapped: true,
        account: {
          clientUsername: 'dev-1',
          clientPassword: 'pw',
          clientNonce: nonce,
          serverId: 'srv',
          serverPassword: 'spw',
          serverNonce: nonce,
        },
      }),
      {
        jobId: 'job-1',
        pkgId: 'pkg-1',
        packageUrl: `https://files.example.com/d/${'x'.repeat(600)}`,
        name: 'DME Client ünïcode',
      },
    );
    let i = 0;
    const newNonce = () => Buffer.from(`n${++i}`).toString('base64');
    const header = (msgId: number): SyncMLMessage['header'] => ({
      verDTD: '1.2',
      verProto: 'DM/1.2',
      sessionId: '9',
      msgId: String(msgId),
      target: { locURI: SERVER },
      source: { locURI: DEVICE, locName: 'dev-1' },
      meta: { maxMsgSize: 400 },
    });
    const first: SyncMLMessage = {
      header: {
        ...header(1),
        cred: {
          meta: { type: 'syncml:auth-md5', format: 'b64' },
          data: computeMd5Digest('dev-1', 'pw', Buffer.from(nonce, 'base64')),
        },
      },
      commands: [{ cmd: 'Alert', cmdId: '1', code: 1201, items: [] }],
      final: true,
    };
    let msg = first;
    const seen = new Set<string>();
    for (let n = 1; n < 40; n++) {
      // the client's message as libwbxml encodes it from XML; the server decodes it
      const body = run('xml2wbxml', serializeSyncML(msg));
      const parsed = decodeSyncMLWbxml(body);
      expect(parsed).toEqual(withNs(msg));
      const r = handleDmMessage(state, parsed, { encoding: 'wbxml', newNonce });
      state = r.state;
      // the server's WBXML reply as libwbxml decodes it
      expect(r.replyBody.length).toBeLessThanOrEqual(400);
      expect(parseSyncML(run('wbxml2xml', r.replyBody, ['-m', '0']).toString('utf8'))).toEqual(r.reply);
      for (const c of r.reply.commands) {
        seen.add(c.cmd);
        if ('items' in c && c.items.some((it) => it.moreData)) seen.add('MoreData');
      }
      if (r.sessionComplete) break;
      let id = 0;
      const statuses: DmCommand[] = [];
      for (const c of r.reply.commands) {
        if (c.cmd === 'Status' || c.cmd === 'Unknown' || (c.cmd === 'Alert' && c.code === 1222)) continue;
        const chunk = 'items' in c && c.items.some((it) => it.moreData);
        const code = c.cmd === 'Exec' ? 202 : chunk ? 213 : 200;
        const st: StatusCommand = {
          cmd: 'Status',
          cmdId: String(++id),
          msgRef: r.reply.header.msgId,
          cmdRef: c.cmdId,
          cmdName: c.cmd,
          targetRefs: [],
          sourceRefs: [],
          code,
          items: [],
        };
        statuses.push(st);
      }
      const hdr: StatusCommand = {
        cmd: 'Status',
        cmdId: String(++id),
        msgRef: r.reply.header.msgId,
        cmdRef: '0',
        cmdName: 'SyncHdr',
        targetRefs: [],
        sourceRefs: [],
        code: r.reply.header.cred ? 212 : 200,
        items: [],
      };
      if (r.reply.header.cred) hdr.chal = { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: newNonce() } };
      const more: DmCommand[] = r.reply.final ? [] : [{ cmd: 'Alert', cmdId: String(++id), code: 1222, items: [] }];
      msg = { header: header(n + 1), commands: [hdr, ...statuses, ...more], final: true };
    }
    expect(state.install?.stage).toBe('accepted');
    expect([...seen].sort()).toEqual(['Add', 'Exec', 'MoreData', 'Status']);
  });
});

describe('WBXML codec details', () => {
  it('writes WBXML 1.2, the public id in the string table, UTF-8, and repeated strings once', () => {
    const wbxml = encodeSyncMLWbxml(serverReply);
    expect([...wbxml.subarray(0, 4)]).toEqual([0x02, 0x00, 0x00, 0x6a]);
    const tableLength = wbxml[4] as number;
    const table = wbxml
      .subarray(5, 5 + tableLength)
      .toString('utf8')
      .split('\0');
    expect(table[0]).toBe('-//SYNCML//DTD SyncML 1.2//EN');
    expect(table).toContain(DEVICE);
    expect(table).toContain('syncml:auth-md5');
    // the device id occurs twice as text but once in the whole document
    expect(wbxml.toString('latin1').split(DEVICE).length - 1).toBe(1);
    const numeric = encodeSyncMLWbxml(serverReply, { numericPublicId: true, stringTable: false });
    expect([...numeric.subarray(0, 5)]).toEqual([0x02, 0xa4, 0x01, 0x6a, 0x00]);
  });

  it('encodes tags on code pages 0 (SyncML) and 1 (MetInf) with the content bit', () => {
    const msg: SyncMLMessage = {
      header: { ...clientResults.header, meta: { maxMsgSize: 1 } },
      commands: [],
      final: true,
    };
    const wbxml = encodeSyncMLWbxml(msg, { stringTable: false, numericPublicId: true });
    // SyncML(0x2D|0x40) SyncHdr(0x2C|0x40) VerDTD(0x31|0x40) STR_I "1.2"
    expect([...wbxml.subarray(5, 10)]).toEqual([0x6d, 0x6c, 0x71, 0x03, 0x31]);
    // Meta(0x1A|0x40) SWITCH_PAGE 1 MaxMsgSize(0x0C|0x40) STR_I "1" END END SWITCH_PAGE 0 … Final(0x12) END END
    expect(wbxml.includes(Buffer.from([0x5a, 0x00, 0x01, 0x4c, 0x03, 0x31, 0x00, 0x01, 0x01]))).toBe(true);
    expect([...wbxml.subarray(-6)]).toEqual([0x00, 0x00, 0x6b, 0x12, 0x01, 0x01]);
  });

  it('rejects what is not SyncML DM 1.2 WBXML', () => {
    const good = encodeSyncMLWbxml(clientInit, { numericPublicId: true });
    expect(() => decodeSyncMLWbxml(good.subarray(0, good.length - 3))).toThrow(SyncMLParseError);
    const otherId = Buffer.from(good);
    otherId[1] = 0x9f; // 0x0FD3 = SyncML 1.1
    otherId[2] = 0x53;
    expect(() => decodeSyncMLWbxml(otherId)).toThrow(/not SyncML 1.2/);
    const latin1 = Buffer.from(good);
    latin1[3] = 0x04;
    expect(() => decodeSyncMLWbxml(latin1)).toThrow(/charset/);
    expect(() => decodeSyncMLWbxml(Buffer.from('<SyncML/>'))).toThrow(SyncMLParseError);
  });
});
