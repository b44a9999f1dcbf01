import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { computeHmacMac, computeMd5Digest, formatHmacHeader, parseHmacHeader } from '../../omadm/dm-auth';
import { buildNotification, verifyNotification } from '../../omadm/notification';
import { isScomoSuccess, parseScomoResultCode, SCOMO_OPERATION_COMPLETE, withInstallJob } from '../../omadm/scomo';
import { handleDmMessage } from '../../omadm/session';
import {
  createDeviceState,
  type DmDeviceState,
  type DmEvent,
  type DmHandleContext,
  type DmHandleResult,
} from '../../omadm/session-model';
import {
  type AlertCommand,
  type DmCommand,
  type ExecCommand,
  type ItemCommand,
  parseSyncML,
  type StatusCommand,
  type SyncMLMessage,
  serializeSyncML,
} from '../../omadm/syncml';
import { decodeSyncMLWbxml, encodeSyncMLWbxml } from '../../omadm/syncml-wbxml';

const SERVER_URI = 'https://dm.example.com/dm';
const DEVICE = 'IMEI:351234567890123';
const USER = 'dev-351234567890123';
const PASS = 'client-secret';
const INITIAL_NONCE = Buffer.from('initial-nonce').toString('base64');

/** What the endpoint (api/device/dm.ts) does with a request: parse the body, pass the raw bytes on for HMAC. */
function handleDmRequest(
  state: DmDeviceState,
  body: string | Uint8Array,
  ctx: Omit<DmHandleContext, 'transport'> & { hmacHeader?: string } = {},
): DmHandleResult {
  const { hmacHeader, ...rest } = ctx;
  const transport = hmacHeader !== undefined ? { body, hmacHeader } : { body };
  return handleDmMessage(state, parseSyncML(body), { ...rest, transport });
}

/** Deterministic nonces: n1, n2, … (base64). */
function nonceSource(): () => string {
  let i = 0;
  return () => Buffer.from(`n${++i}`).toString('base64');
}

/** Persist as JSON between calls, as a Postgres-backed store would. */
function viaJson(s: DmDeviceState): DmDeviceState {
  return JSON.parse(JSON.stringify(s)) as DmDeviceState;
}

type CredMode = 'md5' | 'none' | 'wrong';

/** A scripted DM client: keeps MsgIDs and the nonce, and answers server commands. */
class ScriptedClient {
  sessionId = '1';
  msgId = 0;
  nonce = INITIAL_NONCE;
  state: DmDeviceState;
  last?: DmHandleResult;
  events: DmEvent[] = [];

  constructor(
    state: DmDeviceState,
    private readonly ctx: DmHandleContext,
  ) {
    this.state = state;
  }

  startSession(sessionId: string): void {
    this.sessionId = sessionId;
    this.msgId = 0;
  }

  build(
    commands: DmCommand[],
    opts: { cred?: CredMode; final?: boolean; msgId?: string; meta?: SyncMLMessage['header']['meta'] } = {},
  ): SyncMLMessage {
    this.msgId += 1;
    const cred = opts.cred ?? 'md5';
    const msg: SyncMLMessage = {
      header: {
        verDTD: '1.2',
        verProto: 'DM/1.2',
        sessionId: this.sessionId,
        msgId: opts.msgId ?? String(this.msgId),
        target: { locURI: SERVER_URI },
        source: { locURI: DEVICE, locName: USER },
      },
      commands,
      final: opts.final ?? true,
    };
    if (opts.meta) msg.header.meta = opts.meta;
    if (cred !== 'none') {
      const password = cred === 'wrong' ? 'guess' : PASS;
      msg.header.cred = {
        meta: { type: 'syncml:auth-md5', format: 'b64' },
        data: computeMd5Digest(USER, password, Buffer.from(this.nonce, 'base64')),
      };
    }
    return msg;
  }

  /** Sends through XML (or WBXML, as the context says) both ways, like the HTTP endpoint would. */
  send(msg: SyncMLMessage): DmHandleResult {
    const parsed = this.ctx.encoding === 'wbxml' ? decodeSyncMLWbxml(encodeSyncMLWbxml(msg)) : parseSyncML(serializeSyncML(msg));
    const result = handleDmMessage(viaJson(this.state), parsed, this.ctx);
    this.state = viaJson(result.state);
    this.last = result;
    this.events.push(...result.events);
    const hdrStatus = headerStatus(result.reply);
    const next = hdrStatus.chal?.meta.nextNonce;
    if (next) this.nonce = next;
    // The reply must itself be valid SyncML that parses to the same model.
    expect(parseSyncML(result.replyXml)).toEqual(result.reply);
    // Both messages survive the WBXML codec unchanged (one model, two codecs).
    for (const m of [msg, result.reply]) {
      expect(decodeSyncMLWbxml(encodeSyncMLWbxml(m))).toEqual({ ...m, namespace: 'SYNCML:SYNCML1.2' });
    }
    return result;
  }

  /** Status 200 (or per-target overrides) for every server command in the last reply. */
  statusesFor(reply: SyncMLMessage, codes: Record<string, number> = {}, hdrCode = 200): StatusCommand[] {
    let id = 0;
    const out: StatusCommand[] = [status(++id, reply.header.msgId, '0', 'SyncHdr', hdrCode)];
    for (const c of reply.commands) {
      if (c.cmd === 'Status' || c.cmd === 'Unknown') continue;
      if (c.cmd === 'Alert' && c.code === 1222) continue;
      const target = 'items' in c ? (c.items[0]?.target?.locURI ?? '') : '';
      out.push(status(++id, reply.header.msgId, c.cmdId, c.cmd, codes[target] ?? 200));
    }
    return out;
  }
}

function status(cmdId: number, msgRef: string, cmdRef: string, cmdName: string, code: number): StatusCommand {
  return { cmd: 'Status', cmdId: String(cmdId), msgRef, cmdRef, cmdName, targetRefs: [], sourceRefs: [], code, items: [] };
}

function headerStatus(reply: SyncMLMessage): StatusCommand {
  const st = reply.commands.find((c): c is StatusCommand => c.cmd === 'Status' && c.cmdRef === '0');
  if (!st) throw new Error('reply has no Status for SyncHdr');
  return st;
}

function statusesOf(reply: SyncMLMessage): StatusCommand[] {
  return reply.commands.filter((c): c is StatusCommand => c.cmd === 'Status');
}

function alert(cmdId: number, code: number, extra: Partial<AlertCommand> = {}): AlertCommand {
  return { cmd: 'Alert', cmdId: String(cmdId), code, items: [], ...extra };
}

function devInfo(cmdId: number): ItemCommand<'Replace'> {
  const item = (node: string, data: string) => ({ source: { locURI: `./DevInfo/${node}` }, data });
  return {
    cmd: 'Replace',
    cmdId: String(cmdId),
    items: [item('DevId', DEVICE), item('Man', 'HTC'), item('Mod', 'Touch Pro'), item('DmV', '1.2'), item('Lang', 'en-US')],
  };
}

function operationComplete(cmdId: number, correlator: string | undefined, data: string, pkgId = 'pkg-1'): AlertCommand {
  const a: AlertCommand = {
    cmd: 'Alert',
    cmdId: String(cmdId),
    code: 1226,
    items: [
      {
        source: { locURI: `./SCOMO/Download/${pkgId}/Operations/DownloadInstall` },
        meta: { type: SCOMO_OPERATION_COMPLETE, format: 'int', mark: 'critical' },
        data,
      },
    ],
  };
  if (correlator !== undefined) a.correlator = correlator;
  return a;
}

function baseState(opts: { bootstrapped?: boolean } = {}): DmDeviceState {
  return createDeviceState({
    bootstrapped: opts.bootstrapped ?? false,
    account: { clientUsername: USER, clientPassword: PASS, clientNonce: INITIAL_NONCE, serverId: 'DeviceRollout' },
  });
}

const JOB = {
  jobId: 'inst-42',
  pkgId: 'pkg-1',
  packageUrl: 'https://files.example.com/d/t1cket?x=1&y=2',
  name: 'DME Client 2.1',
  pkgType: 'application/vnd.ms-cab-compressed',
};

const types = (events: DmEvent[]) => events.map((e) => e.type);

describe('authentication', () => {
  let client: ScriptedClient;
  beforeEach(() => {
    client = new ScriptedClient(baseState(), { newNonce: nonceSource(), config: { maxAuthFailures: 3 } });
  });

  it('challenges missing credentials with 407 + NextNonce, then accepts with 212 and confirms the bootstrap', () => {
    const r1 = client.send(client.build([alert(1, 1201), devInfo(2)], { cred: 'none' }));
    expect(r1.reply.final).toBe(true);
    expect(r1.reply.header).toMatchObject({
      sessionId: '1',
      msgId: '1',
      target: { locURI: DEVICE },
      source: { locURI: SERVER_URI },
    });
    const s1 = statusesOf(r1.reply);
    // only statuses: header 407 with Chal, then one per command with the same code
    expect(r1.reply.commands.every((c) => c.cmd === 'Status')).toBe(true);
    expect(s1.map((s) => [s.cmdId, s.msgRef, s.cmdRef, s.cmdName, s.code])).toEqual([
      ['1', '1', '0', 'SyncHdr', 407],
      ['2', '1', '1', 'Alert', 407],
      ['3', '1', '2', 'Replace', 407],
    ]);
    expect(s1[0]?.chal).toEqual({
      meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: Buffer.from('n1').toString('base64') },
    });
    expect(s1[0]?.targetRefs).toEqual([SERVER_URI]);
    expect(s1[0]?.sourceRefs).toEqual([DEVICE]);
    expect(types(r1.events)).toEqual(['sessionStarted', 'authFailed']);
    expect(r1.sessionComplete).toBe(false);
    expect(r1.state.bootstrapped).toBe(false);

    // Pkg #1 again, with the digest over the new nonce
    const r2 = client.send(client.build([alert(1, 1201), devInfo(2)]));
    const s2 = statusesOf(r2.reply);
    expect(s2.map((s) => [s.msgRef, s.cmdRef, s.code])).toEqual([
      ['2', '0', 212],
      ['2', '1', 200],
      ['2', '2', 200],
    ]);
    // Chal in the 212 carries the nonce for the next session
    expect(s2[0]?.chal?.meta.nextNonce).toBe(Buffer.from('n2').toString('base64'));
    expect(r2.state.account.clientNonce).toBe(Buffer.from('n2').toString('base64'));
    expect(types(r2.events)).toEqual(['authenticated', 'bootstrapConfirmed', 'devInfo', 'sessionEnded']);
    expect(r2.events).toContainEqual({ type: 'bootstrapConfirmed', deviceId: DEVICE });
    expect(r2.events).toContainEqual({
      type: 'devInfo',
      devInfo: { DevId: DEVICE, Man: 'HTC', Mod: 'Touch Pro', DmV: '1.2', Lang: 'en-US' },
    });
    expect(r2.reply.header.msgId).toBe('2');
    expect(r2.sessionComplete).toBe(true);
    expect(r2.state.bootstrapped).toBe(true);

    // a later session authenticates with the rotated nonce; no second bootstrapConfirmed
    client.startSession('2');
    const r3 = client.send(client.build([alert(1, 1201), devInfo(2)]));
    expect(headerStatus(r3.reply).code).toBe(212);
    expect(types(r3.events)).not.toContain('bootstrapConfirmed');
  });

  it('answers 401 after too many failures and keeps refusing in that session', () => {
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push(headerStatus(client.send(client.build([alert(1, 1201)], { cred: 'wrong' })).reply).code);
    expect(codes).toEqual([407, 407, 401]);
    const last = client.last as DmHandleResult;
    expect(last.sessionComplete).toBe(true);
    expect(last.events).toContainEqual({
      type: 'authFailed',
      sessionId: '1',
      attempts: 3,
      final: true,
      reason: 'bad-credentials',
    });
    expect(last.events).toContainEqual({ type: 'sessionEnded', sessionId: '1', reason: 'auth-failed' });
    // even correct credentials are refused until a new session starts
    expect(headerStatus(client.send(client.build([alert(1, 1201)])).reply).code).toBe(401);
    client.startSession('2');
    expect(headerStatus(client.send(client.build([alert(1, 1201)])).reply).code).toBe(212);
  });

  it('resynchronises a stale nonce through the challenge', () => {
    client.nonce = Buffer.from('what-the-device-thinks').toString('base64');
    const r1 = client.send(client.build([alert(1, 1201)]));
    expect(headerStatus(r1.reply).code).toBe(407);
    expect(headerStatus(client.send(client.build([alert(1, 1201)])).reply).code).toBe(212);
  });

  it('supports per-message authentication: 200 with a rotated NextNonce on every message', () => {
    const c = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), {
      newNonce: nonceSource(),
      config: { perMessageAuth: true },
    });
    const r1 = c.send(c.build([alert(1, 1201), devInfo(2)]));
    expect(headerStatus(r1.reply).code).toBe(212);
    const r2 = c.send(c.build(c.statusesFor(r1.reply)));
    expect(headerStatus(r2.reply).code).toBe(200);
    expect(headerStatus(r2.reply).chal?.meta.nextNonce).toBe(Buffer.from('n2').toString('base64'));
    // a message without Cred is challenged
    const r3 = c.send(c.build(c.statusesFor(r2.reply), { cred: 'none' }));
    expect(headerStatus(r3.reply).code).toBe(407);
  });

  it('accepts basic credentials when the account requires them', () => {
    const state = createDeviceState({
      account: { clientUsername: USER, clientPassword: PASS, clientNonce: '', serverId: 'S', authScheme: 'basic' },
    });
    const msg = new ScriptedClient(state, {}).build([alert(1, 1201)], { cred: 'none' });
    msg.header.cred = {
      meta: { type: 'syncml:auth-basic', format: 'b64' },
      data: Buffer.from(`${USER}:${PASS}`).toString('base64'),
    };
    const r = handleDmMessage(state, msg);
    expect(headerStatus(r.reply).code).toBe(212);
    expect(headerStatus(r.reply).chal).toBeUndefined();
    const md5Msg = new ScriptedClient(state, {}).build([alert(1, 1201)]);
    const bad = handleDmMessage(state, md5Msg);
    expect(headerStatus(bad.reply).code).toBe(407);
    expect(headerStatus(bad.reply).chal).toEqual({ meta: { type: 'syncml:auth-basic', format: 'b64' } });
  });
});

describe('the install conversation (scripted client)', () => {
  it('bootstraps, adds the SCOMO package, executes DownloadInstall and reports the result', () => {
    const client = new ScriptedClient(withInstallJob(baseState(), JOB), {
      newNonce: nonceSource(),
      config: { maxMsgSize: 16384 },
    });
    client.startSession('4D'); // the device echoes the notification's session id

    // Package 1: server-initiated session (Alert 1200) with DevInfo and credentials
    const p2 = client.send(client.build([alert(1, 1200), devInfo(2)]));
    expect(types(p2.events)).toEqual(['sessionStarted', 'authenticated', 'bootstrapConfirmed', 'devInfo']);
    expect(p2.reply.header.meta).toEqual({ maxMsgSize: 16384 });
    expect(p2.reply.final).toBe(true);
    const adds = p2.reply.commands.filter((c): c is ItemCommand<'Add'> => c.cmd === 'Add');
    expect(adds.map((a) => [a.items[0]?.target?.locURI, a.items[0]?.meta?.format, a.items[0]?.data])).toEqual([
      ['./SCOMO/Download/pkg-1', 'node', undefined],
      ['./SCOMO/Download/pkg-1/PkgID', 'chr', 'pkg-1'],
      ['./SCOMO/Download/pkg-1/Name', 'chr', 'DME Client 2.1'],
      ['./SCOMO/Download/pkg-1/PkgURL', 'chr', 'https://files.example.com/d/t1cket?x=1&y=2'],
      ['./SCOMO/Download/pkg-1/PkgType', 'chr', 'application/vnd.ms-cab-compressed'],
    ]);
    expect(p2.replyXml).toContain('<Data>https://files.example.com/d/t1cket?x=1&amp;y=2</Data>');
    // CmdIDs unique in the message, statuses first
    const ids = p2.reply.commands.map((c) => c.cmdId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(p2.state.install?.stage).toBe('adding');

    // Package 3: statuses for the Adds → the server sends Exec with a Correlator
    const p4 = client.send(client.build(client.statusesFor(p2.reply)));
    expect(headerStatus(p4.reply).code).toBe(200);
    expect(headerStatus(p4.reply).chal).toBeUndefined();
    const execs = p4.reply.commands.filter((c): c is ExecCommand => c.cmd === 'Exec');
    expect(execs).toEqual([
      {
        cmd: 'Exec',
        cmdId: '2',
        correlator: 'inst-42',
        items: [{ target: { locURI: './SCOMO/Download/pkg-1/Operations/DownloadInstall' } }],
      },
    ]);
    expect(p4.reply.commands.filter((c) => c.cmd === 'Status')).toHaveLength(1); // no Status for Status
    expect(p4.state.install?.stage).toBe('executing');

    // Package 5: Exec accepted for asynchronous processing → installAccepted; nothing left → end
    const p6 = client.send(
      client.build(client.statusesFor(p4.reply, { './SCOMO/Download/pkg-1/Operations/DownloadInstall': 202 })),
    );
    expect(p6.events).toEqual([
      { type: 'installAccepted', jobId: 'inst-42', correlator: 'inst-42', pkgId: 'pkg-1' },
      { type: 'sessionEnded', sessionId: '4D', reason: 'completed' },
    ]);
    expect(p6.reply.commands.map((c) => c.cmd)).toEqual(['Status']);
    expect(p6.sessionComplete).toBe(true);
    expect(p6.state.install?.stage).toBe('accepted');

    // Later: the device opens its own session with the Generic Alert (1226) reporting the result
    client.startSession('4E');
    const r = client.send(client.build([alert(1, 1201), operationComplete(2, 'inst-42', '1200'), devInfo(3)]));
    expect(headerStatus(r.reply).code).toBe(212);
    expect(statusesOf(r.reply).map((s) => [s.cmdRef, s.cmdName, s.code])).toEqual([
      ['0', 'SyncHdr', 212],
      ['1', 'Alert', 200],
      ['2', 'Alert', 200],
      ['3', 'Replace', 200],
    ]);
    expect(r.events).toContainEqual({
      type: 'installResult',
      jobId: 'inst-42',
      correlator: 'inst-42',
      pkgId: 'pkg-1',
      success: true,
      code: 1200,
      source: 'generic-alert',
    });
    expect(r.state.install).toMatchObject({ stage: 'completed', resultCode: 1200 });
    expect(r.sessionComplete).toBe(true);

    // A repeated report (the device did not get our Status) is acknowledged but not re-emitted
    client.startSession('4F');
    const again = client.send(client.build([alert(1, 1201), operationComplete(2, 'inst-42', '1200')]));
    expect(statusesOf(again.reply).map((s) => s.code)).toEqual([212, 200, 200]);
    expect(types(again.events)).not.toContain('installResult');
  });

  it('replaces leaves that already exist (418) before the Exec', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const p2 = client.send(client.build([alert(1, 1201), devInfo(2)]));
    const p4 = client.send(
      client.build(
        client.statusesFor(p2.reply, {
          './SCOMO/Download/pkg-1': 418,
          './SCOMO/Download/pkg-1/PkgID': 418,
          './SCOMO/Download/pkg-1/PkgURL': 418,
        }),
      ),
    );
    const replaces = p4.reply.commands.filter((c): c is ItemCommand<'Replace'> => c.cmd === 'Replace');
    expect(replaces.map((c) => [c.items[0]?.target?.locURI, c.items[0]?.data])).toEqual([
      ['./SCOMO/Download/pkg-1/PkgID', 'pkg-1'],
      ['./SCOMO/Download/pkg-1/PkgURL', 'https://files.example.com/d/t1cket?x=1&y=2'],
    ]);
    expect(p4.reply.commands.some((c) => c.cmd === 'Exec')).toBe(false);
    const p6 = client.send(client.build(client.statusesFor(p4.reply)));
    expect(p6.reply.commands.filter((c) => c.cmd === 'Exec')).toHaveLength(1);
  });

  it('reports a failed install: unknown node (404) on Add, error status on Exec, failure code in the Generic Alert', () => {
    const a = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const a2 = a.send(a.build([alert(1, 1201)]));
    const a4 = a.send(a.build(a.statusesFor(a2.reply, { './SCOMO/Download/pkg-1': 404 })));
    expect(a4.events).toContainEqual({
      type: 'installResult',
      jobId: 'inst-42',
      correlator: 'inst-42',
      pkgId: 'pkg-1',
      success: false,
      code: 404,
      source: 'add-status',
    });
    expect(a4.reply.commands.map((c) => c.cmd)).toEqual(['Status']);
    expect(a4.sessionComplete).toBe(true);

    const b = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const b2 = b.send(b.build([alert(1, 1201)]));
    const b4 = b.send(b.build(b.statusesFor(b2.reply)));
    const b6 = b.send(b.build(b.statusesFor(b4.reply, { './SCOMO/Download/pkg-1/Operations/DownloadInstall': 500 })));
    expect(b6.events).toContainEqual(
      expect.objectContaining({ type: 'installResult', success: false, code: 500, source: 'exec-status' }),
    );

    const c = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const c2 = c.send(c.build([alert(1, 1201)]));
    const c4 = c.send(c.build(c.statusesFor(c2.reply)));
    c.send(c.build(c.statusesFor(c4.reply, { './SCOMO/Download/pkg-1/Operations/DownloadInstall': 202 })));
    c.startSession('9');
    const r = c.send(c.build([alert(1, 1201), operationComplete(2, 'inst-42', '<ResultCode>1405</ResultCode>')]));
    expect(r.events).toContainEqual(
      expect.objectContaining({ type: 'installResult', jobId: 'inst-42', success: false, code: 1405 }),
    );
    expect(r.state.install?.stage).toBe('failed');
  });

  it('matches a Generic Alert without Correlator by its SCOMO source URI, and passes on unknown ones', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const r = client.send(
      client.build([alert(1, 1201), operationComplete(2, undefined, '1250'), operationComplete(3, 'other', '1200', 'zzz')]),
    );
    expect(r.events.filter((e) => e.type === 'installResult')).toEqual([
      {
        type: 'installResult',
        jobId: 'inst-42',
        correlator: 'inst-42',
        pkgId: 'pkg-1',
        success: true,
        code: 1250,
        source: 'generic-alert',
      },
      { type: 'installResult', correlator: 'other', pkgId: 'zzz', success: true, code: 1200, source: 'generic-alert' },
    ]);
  });

  it('fails the step when the client closes its package without answering a command', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const p2 = client.send(client.build([alert(1, 1201)]));
    const partial = client.statusesFor(p2.reply).slice(0, 3); // header + 2 of 5 Adds
    const p4 = client.send(client.build(partial));
    expect(p4.events).toContainEqual(
      expect.objectContaining({ type: 'installResult', success: false, code: 500, source: 'no-status' }),
    );
  });

  it('resumes an interrupted install in the next session', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    client.send(client.build([alert(1, 1201)])); // Adds sent, then the connection drops
    client.startSession('2');
    const r = client.send(client.build([alert(1, 1201)]));
    expect(r.reply.commands.filter((c) => c.cmd === 'Add')).toHaveLength(5);
  });
});

describe('packages, statuses and bookkeeping', () => {
  it('answers an open client package with Alert 1222 and no Final, then continues after Final', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const r1 = client.send(client.build([alert(1, 1201), devInfo(2)], { final: false }));
    expect(r1.reply.final).toBe(false);
    expect(r1.reply.commands.map((c) => (c.cmd === 'Alert' ? `Alert:${c.code}` : c.cmd))).toEqual([
      'Status',
      'Status',
      'Status',
      'Alert:1222',
    ]);
    expect(r1.reply.commands.some((c) => c.cmd === 'Add')).toBe(false);
    expect(r1.sessionComplete).toBe(false);
    const r2 = client.send(client.build([devInfo(1)]));
    expect(r2.reply.final).toBe(true);
    expect(headerStatus(r2.reply).code).toBe(200); // authenticated for the session already
    expect(r2.reply.commands.filter((c) => c.cmd === 'Add')).toHaveLength(5);
  });

  it('returns 404 for unknown nodes, 405 for commands a client may not send, 406 for unknown alerts, 400 for junk', () => {
    const client = new ScriptedClient(baseState({ bootstrapped: true }), { newNonce: nonceSource() });
    const replace: ItemCommand<'Replace'> = {
      cmd: 'Replace',
      cmdId: '2',
      items: [
        { source: { locURI: './DevInfo/Man' }, data: 'HTC' },
        { source: { locURI: './Vendor/Unknown/Node' }, data: 'x' },
      ],
    };
    const get: ItemCommand<'Get'> = { cmd: 'Get', cmdId: '3', items: [{ target: { locURI: './DevDetail/SwV' } }] };
    const r = client.send(
      client.build([
        alert(1, 1201),
        replace,
        get,
        alert(4, 1100),
        { cmd: 'Unknown', element: 'Sync', cmdId: '5' },
        alert(6, 1224, { noResp: true }),
      ]),
    );
    expect(statusesOf(r.reply).map((s) => [s.cmdRef, s.cmdName, s.code, s.sourceRefs])).toEqual([
      ['0', 'SyncHdr', 212, [DEVICE]],
      ['1', 'Alert', 200, []],
      ['2', 'Replace', 200, ['./DevInfo/Man']],
      ['2', 'Replace', 404, ['./Vendor/Unknown/Node']],
      ['3', 'Get', 405, []],
      ['4', 'Alert', 406, []],
      ['5', 'Sync', 400, []],
    ]);
  });

  it('handles a client Session Abort (1223): statuses only, session over', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const r = client.send(client.build([alert(1, 1201), alert(2, 1223)]));
    expect(r.reply.commands.every((c) => c.cmd === 'Status')).toBe(true);
    expect(r.sessionComplete).toBe(true);
    expect(r.events).toContainEqual({ type: 'sessionEnded', sessionId: '1', reason: 'aborted-by-client' });
    expect(r.state.install?.stage).toBe('pending');
  });

  it('replays the cached reply for a retransmitted message without side effects', () => {
    const client = new ScriptedClient(withInstallJob(baseState(), JOB), { newNonce: nonceSource() });
    const msg = client.build([alert(1, 1201), devInfo(2)]);
    const first = client.send(msg);
    const again = handleDmMessage(viaJson(first.state), parseSyncML(serializeSyncML(msg)), { newNonce: nonceSource() });
    expect(again.duplicate).toBe(true);
    expect(again.replyXml).toBe(first.replyXml);
    expect(again.events).toEqual([]);
    expect(again.state).toEqual(viaJson(first.state));
  });

  it('replays a retransmitted WBXML message with the identical WBXML bytes (and signs WBXML replies for HMAC)', () => {
    const client = new ScriptedClient(withInstallJob(baseState(), JOB), {
      newNonce: nonceSource(),
      encoding: 'wbxml',
      config: { maxMsgSize: 8192 },
    });
    const msg = client.build([alert(1, 1201), devInfo(2)], { meta: { maxMsgSize: 600 } });
    const first = client.send(msg);
    expect(first.reply.final).toBe(false); // the package did not fit in 600 bytes
    expect(first.replyBody.length).toBeLessThanOrEqual(600);
    const again = handleDmMessage(viaJson(first.state), decodeSyncMLWbxml(encodeSyncMLWbxml(msg)), {
      newNonce: nonceSource(),
      encoding: 'wbxml',
    });
    expect(again.duplicate).toBe(true);
    expect(again.replyBody.equals(first.replyBody)).toBe(true);
    expect(again.headers).toEqual(first.headers);

    const serverNonce = Buffer.from('srv').toString('base64');
    const hmacState = createDeviceState({
      bootstrapped: true,
      account: {
        clientUsername: USER,
        clientPassword: PASS,
        clientNonce: INITIAL_NONCE,
        authScheme: 'hmac',
        serverId: 'DeviceRollout',
        serverPassword: 'srv-pw',
        serverNonce,
      },
    });
    const body = encodeSyncMLWbxml(new ScriptedClient(hmacState, {}).build([alert(1, 1201)], { cred: 'none' }));
    const mac = computeHmacMac({ username: USER, password: PASS, nonce: Buffer.from(INITIAL_NONCE, 'base64'), body });
    const r = handleDmMessage(hmacState, decodeSyncMLWbxml(body), {
      transport: { body, hmacHeader: formatHmacHeader({ username: USER, mac }) },
      encoding: 'wbxml',
    });
    expect(headerStatus(r.reply).code).toBe(212);
    expect(r.headers['Content-Type']).toBe('application/vnd.syncml.dm+wbxml');
    const signed = parseHmacHeader(r.headers['x-syncml-hmac'] as string);
    expect(signed?.mac).toBe(
      computeHmacMac({
        username: 'DeviceRollout',
        password: 'srv-pw',
        nonce: Buffer.from(serverNonce, 'base64'),
        body: r.replyBody,
      }),
    );
  });

  it('starts a fresh session when a device reuses SessionID 1 / MsgID 1', () => {
    const client = new ScriptedClient(baseState({ bootstrapped: true }), { newNonce: nonceSource() });
    const first = client.send(client.build([alert(1, 1201)]));
    expect(first.sessionComplete).toBe(true);
    client.startSession('1');
    const second = client.send(client.build([alert(1, 1201)]));
    expect(second.duplicate).toBe(false);
    expect(types(second.events)).toContain('sessionStarted');
    expect(headerStatus(second.reply).code).toBe(212);
  });

  it('passes on client events, other Generic Alerts and Results', () => {
    const client = new ScriptedClient(baseState({ bootstrapped: true }), { newNonce: nonceSource() });
    const r = client.send(
      client.build([
        alert(1, 1201),
        alert(2, 1224, { items: [{ meta: { type: 'com.microsoft/MDM/LoginStatus' }, data: 'user' }] }),
        alert(3, 1226, {
          correlator: 'c9',
          items: [
            {
              source: { locURI: './FUMO/State' },
              meta: { type: 'org.openmobilealliance.dm.firmwareupdate.devicerequest', format: 'chr' },
              data: 'x',
            },
          ],
        }),
        {
          cmd: 'Results',
          cmdId: '4',
          msgRef: '1',
          cmdRef: '7',
          targetRefs: [],
          sourceRefs: [],
          items: [{ source: { locURI: './DevDetail/SwV' }, data: '6.5' }],
        },
      ]),
    );
    expect(r.events).toContainEqual({ type: 'clientEvent', alertType: 'com.microsoft/MDM/LoginStatus', data: 'user' });
    expect(r.events).toContainEqual({
      type: 'genericAlert',
      alertType: 'org.openmobilealliance.dm.firmwareupdate.devicerequest',
      correlator: 'c9',
      sourceUri: './FUMO/State',
      data: 'x',
    });
    expect(r.events).toContainEqual({
      type: 'results',
      msgRef: '1',
      cmdRef: '7',
      items: [{ source: { locURI: './DevDetail/SwV' }, data: '6.5' }],
    });
    // no Status for Results
    expect(statusesOf(r.reply).map((s) => s.cmdRef)).toEqual(['0', '1', '2', '3']);
  });

  it('rejects an unsupported protocol version with 513', () => {
    const client = new ScriptedClient(baseState(), { newNonce: nonceSource() });
    const msg = client.build([alert(1, 1201)]);
    msg.header.verProto = 'DM/2.0';
    const r = handleDmMessage(baseState(), msg);
    expect(headerStatus(r.reply).code).toBe(513);
    expect(r.sessionComplete).toBe(true);
  });

  it('parses, authenticates and answers through handleDmRequest (HMAC, signed reply)', () => {
    const serverNonce = Buffer.from('srv-nonce').toString('base64');
    const state = createDeviceState({
      bootstrapped: true,
      account: {
        clientUsername: USER,
        clientPassword: PASS,
        clientNonce: INITIAL_NONCE,
        authScheme: 'hmac',
        serverId: 'DeviceRollout',
        serverPassword: 'srv-pw',
        serverNonce,
      },
    });
    const msg = new ScriptedClient(state, {}).build([alert(1, 1201)], { cred: 'none' });
    const body = Buffer.from(serializeSyncML(msg), 'utf8');
    const mac = computeHmacMac({ username: USER, password: PASS, nonce: Buffer.from(INITIAL_NONCE, 'base64'), body });
    const r = handleDmRequest(state, body, { hmacHeader: formatHmacHeader({ username: USER, mac }), newNonce: nonceSource() });
    expect(headerStatus(r.reply).code).toBe(212);
    expect(headerStatus(r.reply).chal?.meta).toEqual({
      type: 'syncml:auth-MAC',
      format: 'b64',
      nextNonce: Buffer.from('n1').toString('base64'),
    });
    expect(r.reply.header.cred).toBeUndefined();
    const signed = parseHmacHeader(r.headers['x-syncml-hmac'] as string);
    expect(signed?.username).toBe('DeviceRollout');
    expect(signed?.mac).toBe(
      computeHmacMac({
        username: 'DeviceRollout',
        password: 'srv-pw',
        nonce: Buffer.from(serverNonce, 'base64'),
        body: r.replyXml,
      }),
    );
    expect(r.headers['Content-Type']).toBe('application/vnd.syncml.dm+xml');

    const tampered = handleDmRequest(state, Buffer.concat([body, Buffer.from(' ')]), {
      hmacHeader: formatHmacHeader({ username: USER, mac }),
    });
    expect(headerStatus(tampered.reply).code).toBe(407);
    expect(() => handleDmRequest(state, '<nope')).toThrow();
  });

  it('authenticates the server with its own Cred and re-sends commands the client refused', () => {
    const serverNonce = Buffer.from('device-chosen').toString('base64');
    const state = withInstallJob(
      createDeviceState({
        bootstrapped: true,
        account: {
          clientUsername: USER,
          clientPassword: PASS,
          clientNonce: INITIAL_NONCE,
          serverId: 'DeviceRollout',
          serverPassword: 'srv-pw',
          serverNonce,
        },
      }),
      JOB,
    );
    const client = new ScriptedClient(state, { newNonce: nonceSource() });
    const p2 = client.send(client.build([alert(1, 1201)]));
    const md5 = (s: string | Buffer) => createHash('md5').update(s).digest();
    const expectedCred = (nonce: string) =>
      md5(
        Buffer.concat([Buffer.from(`${md5('DeviceRollout:srv-pw').toString('base64')}:`), Buffer.from(nonce, 'base64')]),
      ).toString('base64');
    expect(p2.reply.header.cred).toEqual({ meta: { type: 'syncml:auth-md5', format: 'b64' }, data: expectedCred(serverNonce) });

    // The device refuses the server's credentials and challenges with its own nonce.
    const newServerNonce = Buffer.from('retry-nonce').toString('base64');
    const refusal = client
      .statusesFor(p2.reply, {}, 401)
      .map((s, i) =>
        i === 0
          ? { ...s, chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: newServerNonce } } }
          : { ...s, code: 401 },
      );
    const p4 = client.send(client.build(refusal));
    expect(p4.events).toContainEqual({ type: 'serverAuthRejected', code: 401 });
    expect(p4.state.account.serverNonce).toBe(newServerNonce);
    expect(p4.reply.header.cred?.data).toBe(expectedCred(newServerNonce));
    expect(p4.reply.commands.filter((c) => c.cmd === 'Add')).toHaveLength(5); // re-sent, not failed
    expect(types(p4.events)).not.toContain('installResult');

    // The device accepts (212): no more server Cred in this session.
    const p6 = client.send(client.build(client.statusesFor(p4.reply, {}, 212)));
    expect(p6.reply.header.cred).toBeUndefined();
    expect(p6.reply.commands.filter((c) => c.cmd === 'Exec')).toHaveLength(1);
  });
});

describe("the client's limits (MaxMsgSize, MaxObjSize)", () => {
  /** Answers every server command of a reply: 213 for a chunk (MoreData), 200 otherwise. */
  function answers(reply: SyncMLMessage): StatusCommand[] {
    let id = 0;
    const out: StatusCommand[] = [status(++id, reply.header.msgId, '0', 'SyncHdr', 200)];
    for (const c of reply.commands) {
      if (c.cmd === 'Status' || c.cmd === 'Unknown' || (c.cmd === 'Alert' && c.code === 1222)) continue;
      const chunk = 'items' in c && c.items.some((i) => i.moreData);
      out.push(status(++id, reply.header.msgId, c.cmdId, c.cmd, chunk ? 213 : 200));
    }
    return out;
  }

  /**
   * Runs the install package against a client with that MaxMsgSize: every reply within the limit,
   * Final only on the last message of each package, the client asking for more with Alert 1222.
   * Returns the server messages, and the leaves the client assembled from the chunks it got.
   */
  function runLimited(job: typeof JOB, maxMsgSize: number, encoding: 'xml' | 'wbxml') {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), job), {
      newNonce: nonceSource(),
      encoding,
    });
    const meta = { maxMsgSize, maxObjSize: 100_000 };
    const replies: DmHandleResult[] = [];
    const tree = new Map<string, string>();
    let r = client.send(client.build([alert(1, 1201), devInfo(2)], { meta }));
    for (let guard = 0; guard < 60; guard++) {
      replies.push(r);
      expect(r.replyBody.length).toBeLessThanOrEqual(maxMsgSize);
      const decoded = encoding === 'wbxml' ? decodeSyncMLWbxml(r.replyBody) : parseSyncML(r.replyBody);
      expect(decoded).toEqual({ ...r.reply, namespace: 'SYNCML:SYNCML1.2' });
      expect(r.headers['Content-Type']).toBe(`application/vnd.syncml.dm+${encoding}`);
      for (const c of r.reply.commands) {
        if (c.cmd !== 'Add' && c.cmd !== 'Replace') continue;
        const item = c.items[0];
        const uri = item?.target?.locURI ?? '';
        tree.set(uri, (tree.get(uri) ?? '') + (item?.data ?? ''));
      }
      const execs = r.reply.commands.filter((c) => c.cmd === 'Exec');
      if (execs.length > 0) {
        const target = './SCOMO/Download/pkg-1/Operations/DownloadInstall';
        r = client.send(client.build(client.statusesFor(r.reply, { [target]: 202 }), { meta }));
        replies.push(r);
        break;
      }
      const more: DmCommand[] = r.reply.final ? [] : [alert(99, 1222)];
      r = client.send(client.build([...answers(r.reply), ...more], { meta }));
    }
    return { replies, tree, client };
  }

  const LONG_URL = `https://files.example.com/d/${'t1cket'.repeat(300)}?x=1&y=2`;

  for (const encoding of ['xml', 'wbxml'] as const) {
    it(`splits the package across messages within MaxMsgSize (${encoding}); Final only on the last`, () => {
      const limit = encoding === 'xml' ? 900 : 400;
      const { replies, tree } = runLimited(JOB, limit, encoding);
      const addMessages = replies.filter((r) => r.reply.commands.some((c) => c.cmd === 'Add'));
      expect(addMessages.length).toBeGreaterThan(1);
      expect(addMessages.slice(0, -1).every((r) => !r.reply.final)).toBe(true);
      expect(addMessages.at(-1)?.reply.final).toBe(true);
      // nothing lost or duplicated: the five Adds, each once
      expect([...tree.keys()]).toEqual([
        './SCOMO/Download/pkg-1',
        './SCOMO/Download/pkg-1/PkgID',
        './SCOMO/Download/pkg-1/Name',
        './SCOMO/Download/pkg-1/PkgURL',
        './SCOMO/Download/pkg-1/PkgType',
      ]);
      expect(tree.get('./SCOMO/Download/pkg-1/PkgURL')).toBe(JOB.packageUrl);
      // items that fit in a message of their own wait whole for the next one: no chunks
      const items = replies.flatMap((r) => r.reply.commands.flatMap((c) => ('items' in c ? c.items : [])));
      expect(items.some((i) => i.moreData)).toBe(false);
      const last = replies.at(-1) as DmHandleResult;
      expect(last.events).toContainEqual({ type: 'installAccepted', jobId: 'inst-42', correlator: 'inst-42', pkgId: 'pkg-1' });
      expect(last.sessionComplete).toBe(true);
    });

    it(`sends an item larger than the message in chunks with MoreData (${encoding})`, () => {
      const limit = encoding === 'xml' ? 1000 : 500;
      const { replies, tree } = runLimited({ ...JOB, packageUrl: LONG_URL }, limit, encoding);
      const chunks = replies.flatMap((r) =>
        r.reply.commands.flatMap((c) =>
          (c.cmd === 'Add' || c.cmd === 'Replace') && c.items[0]?.target?.locURI?.endsWith('/PkgURL') ? [c.items[0]] : [],
        ),
      );
      expect(chunks.length).toBeGreaterThan(2);
      expect(chunks.slice(0, -1).every((i) => i?.moreData === true)).toBe(true);
      expect(chunks.at(-1)?.moreData).toBeUndefined();
      expect(chunks[0]?.meta?.size).toBe(Buffer.byteLength(LONG_URL));
      expect(chunks.slice(1).every((i) => i?.meta?.size === undefined)).toBe(true);
      expect(tree.get('./SCOMO/Download/pkg-1/PkgURL')).toBe(LONG_URL);
      // one chunk per message, each message within the limit (checked in runLimited)
      expect(replies.every((r) => r.replyBody.length <= limit)).toBe(true);
      expect(replies.at(-1)?.events.map((e) => e.type)).toContain('installAccepted');
    });
  }

  it('drops the rest of a split package when the client aborts, and sends the package again next session', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const meta = { maxMsgSize: 900 };
    const p2 = client.send(client.build([alert(1, 1201), devInfo(2)], { meta }));
    expect(p2.reply.final).toBe(false);
    expect(p2.state.session?.pending?.length).toBeGreaterThan(0);
    const aborted = client.send(client.build([...answers(p2.reply), alert(9, 1223)], { meta }));
    expect(aborted.sessionComplete).toBe(true);
    expect(aborted.reply.final).toBe(true);
    expect(aborted.reply.commands.every((c) => c.cmd === 'Status')).toBe(true);
    expect(aborted.state.session?.pending).toBeUndefined();
    expect(aborted.state.session?.outstanding.filter((o) => o.msgId === 'pending')).toEqual([]);

    client.startSession('2');
    const again = client.send(client.build([alert(1, 1201)], { meta: { maxMsgSize: 8192 } }));
    const adds = again.reply.commands.filter((c): c is ItemCommand<'Add'> => c.cmd === 'Add');
    expect(adds.map((a) => a.items[0]?.target?.locURI)).toEqual([
      './SCOMO/Download/pkg-1',
      './SCOMO/Download/pkg-1/PkgID',
      './SCOMO/Download/pkg-1/Name',
      './SCOMO/Download/pkg-1/PkgURL',
      './SCOMO/Download/pkg-1/PkgType',
    ]);
  });

  it('keeps the rest of a split package waiting through a 407 (per-message authentication) and sends it after', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), {
      newNonce: nonceSource(),
      config: { perMessageAuth: true },
    });
    const meta = { maxMsgSize: 900 };
    const p2 = client.send(client.build([alert(1, 1201), devInfo(2)], { meta }));
    const waiting = p2.state.session?.pending?.length ?? 0;
    expect(waiting).toBeGreaterThan(0);
    const refused = client.send(client.build([...answers(p2.reply), alert(9, 1222)], { meta, cred: 'wrong' }));
    expect(headerStatus(refused.reply).code).toBe(407);
    expect(refused.reply.commands.every((c) => c.cmd === 'Status')).toBe(true);
    expect(refused.reply.final).toBe(true);
    expect(refused.state.session?.pending?.length).toBe(waiting);
    let resumed = client.send(client.build([...answers(p2.reply), alert(9, 1222)], { meta }));
    expect(headerStatus(resumed.reply).code).toBe(200);
    const added: string[] = [];
    for (let guard = 0; guard < 10 && !resumed.reply.final; guard++) {
      for (const c of resumed.reply.commands) if (c.cmd === 'Add') added.push(c.items[0]?.target?.locURI ?? '');
      resumed = client.send(client.build([...answers(resumed.reply), alert(9, 1222)], { meta }));
    }
    for (const c of resumed.reply.commands) if (c.cmd === 'Add') added.push(c.items[0]?.target?.locURI ?? '');
    expect(added).toHaveLength(5); // the whole package, after the refused message
    expect(resumed.reply.final).toBe(true);
  });

  it('never sends an object larger than the MaxObjSize: the install fails with 413', () => {
    const client = new ScriptedClient(withInstallJob(baseState({ bootstrapped: true }), JOB), { newNonce: nonceSource() });
    const r = client.send(client.build([alert(1, 1201)], { meta: { maxMsgSize: 8192, maxObjSize: 20 } }));
    expect(r.reply.commands.map((c) => c.cmd)).toEqual(['Status', 'Status']);
    expect(r.events).toContainEqual({
      type: 'installResult',
      jobId: 'inst-42',
      correlator: 'inst-42',
      pkgId: 'pkg-1',
      success: false,
      code: 413,
      source: 'object-too-large',
    });
    expect(r.sessionComplete).toBe(true);
  });
});

describe('server authentication the client can answer', () => {
  const SERVER_PW = 'srv-pw';
  const md5 = (x: string | Buffer) => createHash('md5').update(x).digest();
  const serverCred = (nonce: string) =>
    md5(
      Buffer.concat([Buffer.from(`${md5(`DeviceRollout:${SERVER_PW}`).toString('base64')}:`), Buffer.from(nonce, 'base64')]),
    ).toString('base64');
  const withServerCreds = (serverNonce: string) =>
    createDeviceState({
      bootstrapped: true,
      account: {
        clientUsername: USER,
        clientPassword: PASS,
        clientNonce: INITIAL_NONCE,
        serverId: 'DeviceRollout',
        serverPassword: SERVER_PW,
        serverNonce,
      },
    });
  const accept = (reply: SyncMLMessage, nextNonce: string): StatusCommand[] =>
    new ScriptedClient(baseState(), {})
      .statusesFor(reply, {}, 212)
      .map((s, i) => (i === 0 ? { ...s, chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce } } } : s));

  it('never presents its credentials in the message that ends the session; keeps the NextNonce for the trigger digest', () => {
    const first = Buffer.from('bootstrap-nonce').toString('base64');
    const client = new ScriptedClient(withServerCreds(first), { newNonce: nonceSource() });
    // Nothing to do in this session: the server still asks something, so the client answers its Cred.
    const p2 = client.send(client.build([alert(1, 1201), devInfo(2)]));
    expect(p2.reply.header.cred?.data).toBe(serverCred(first));
    expect(p2.sessionComplete).toBe(false);
    expect(p2.reply.commands.filter((c) => c.cmd !== 'Status').map((c) => c.cmd)).toEqual(['Get']);

    const rotated = Buffer.from('client-rotated').toString('base64');
    const p4 = client.send(client.build(accept(p2.reply, rotated)));
    expect(p4.state.account.serverNonce).toBe(rotated);
    expect(p4.reply.header.cred).toBeUndefined(); // the last message carries no Cred
    expect(p4.sessionComplete).toBe(true);

    // The next Package #0 is signed with the nonce the client holds now.
    const pkg0 = buildNotification(
      { uiMode: 'background', initiator: 'server', sessionId: 7, serverId: 'DeviceRollout' },
      { password: SERVER_PW, nonce: Buffer.from(p4.state.account.serverNonce as string, 'base64') },
    );
    expect(verifyNotification(pkg0, { password: SERVER_PW, nonce: Buffer.from(rotated, 'base64') })).toBe(true);
    expect(verifyNotification(pkg0, { password: SERVER_PW, nonce: Buffer.from(first, 'base64') })).toBe(false);

    // Next session: the server's digest uses the rotated nonce, which the client accepts.
    client.startSession('2');
    const q2 = client.send(client.build([alert(1, 1201)]));
    expect(q2.reply.header.cred?.data).toBe(serverCred(rotated));
  });

  it('recovers from stale server credentials (401 + Chal) in the same session without losing the install', () => {
    const stale = Buffer.from('stale').toString('base64');
    const client = new ScriptedClient(withInstallJob(withServerCreds(stale), JOB), { newNonce: nonceSource() });
    const p2 = client.send(client.build([alert(1, 1200), devInfo(2)]));
    expect(p2.reply.header.cred?.data).toBe(serverCred(stale));
    const held = Buffer.from('what-the-client-holds').toString('base64');
    const refusal = client
      .statusesFor(p2.reply, {}, 401)
      .map((s, i) => (i === 0 ? { ...s, chal: { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: held } } } : s));
    const p4 = client.send(client.build(refusal));
    expect(p4.reply.header.cred?.data).toBe(serverCred(held));
    expect(p4.reply.commands.filter((c) => c.cmd === 'Add')).toHaveLength(5);
    const next = Buffer.from('after-212').toString('base64');
    const p6 = client.send(client.build(accept(p4.reply, next)));
    expect(p6.state.account.serverNonce).toBe(next);
    expect(p6.reply.header.cred).toBeUndefined();
    const target = './SCOMO/Download/pkg-1/Operations/DownloadInstall';
    const p8 = client.send(client.build(client.statusesFor(p6.reply, { [target]: 202 })));
    expect(p8.events).toContainEqual({ type: 'installAccepted', jobId: 'inst-42', correlator: 'inst-42', pkgId: 'pkg-1' });
    expect(types([...p2.events, ...p4.events, ...p6.events, ...p8.events])).not.toContain('installResult');
  });
});

describe('helpers', () => {
  it('classifies SCOMO result codes and reads them from alert data', () => {
    expect(isScomoSuccess(1200)).toBe(true);
    expect(isScomoSuccess(1299)).toBe(true);
    expect(isScomoSuccess(1402)).toBe(false);
    expect(parseScomoResultCode(' 1200 ')).toBe(1200);
    expect(parseScomoResultCode('<ResultCode>1402</ResultCode><Identifier>x</Identifier>')).toBe(1402);
    expect(parseScomoResultCode('garbage')).toBeUndefined();
  });

  it('validates SCOMO node names', () => {
    expect(() => withInstallJob(baseState(), { ...JOB, pkgId: 'a/b' })).toThrow(/node name/);
  });
});
