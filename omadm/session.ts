/**
 * Server side of an OMA DM 1.2 session as a pure state machine.
 *
 *   handleDmMessage(state, parsedClientMessage, ctx) → { state, reply, replyXml, headers, events }
 *
 * `state` (DmDeviceState) is plain JSON — one record per device — holding the DM account
 * (credentials and nonces), the bootstrap flag, the pending SCOMO install job and the scratch of
 * the current session. Nothing is performed here: the caller persists the new state, sends the
 * reply and acts on the events (signals to the install workflow etc.).
 *
 * Protocol behaviour (OMA-TS-DM_Protocol 1.2, DM_Security 1.2, SCOMO 1.0):
 *  - Application-layer client authentication on the SyncHdr: `syncml:auth-md5` (default),
 *    `syncml:auth-basic`, or HMAC (`x-syncml-hmac` transport header). Missing or wrong credentials
 *    → Status 407 with a Chal carrying a fresh NextNonce, a Status (same code) for every command and
 *    no new commands; after `maxAuthFailures` failures in one session → 401 and the session is
 *    closed. First success → 212 (authenticated for the session) with a Chal/NextNonce for the next
 *    session; later messages → 200 (with a rotated NextNonce when every message is authenticated:
 *    HMAC or `perMessageAuth`).
 *  - The first authenticated session of a device that is not yet bootstrapped emits
 *    `bootstrapConfirmed` (M2).
 *  - Optional server credentials (APPSRV): the server puts an md5 Cred in its SyncHdr until the client
 *    answers 212, follows the client's Chal/NextNonce, and re-sends commands the client refused
 *    with 401/407 on the server's header. With HMAC, replies are signed (`x-syncml-hmac`).
 *  - Statuses: one per client command (none for Status and Results, none with NoResp); Alert
 *    1200/1201/1222/1223/1224/1226 → 200, other alert codes → 406; Replace of ./DevInfo/* → 200,
 *    of other nodes → 404; commands a client must not send (Add, Get, Exec, …) → 405; elements
 *    that are no DM command → 400.
 *  - Packages: while the client's package is open (no Final) the reply carries only statuses and
 *    Alert 1222 ("next message"), without Final. New commands are only sent after the client's
 *    Final. A reply without new commands ends the session (`sessionComplete`).
 *  - SCOMO install: Add of ./SCOMO/Download/<pkgId> (+ PkgID, Name, PkgURL, …); leaves that already
 *    exist (418) are Replaced; then Exec …/Operations/DownloadInstall with a Correlator.
 *    Exec → 202 emits `installAccepted`; a later Generic Alert 1226 of type
 *    org.openmobilealliance.dm.softwarecomponent.OperationComplete with that Correlator emits
 *    `installResult` (1200 and 1250–1299 = success). Any error status on Add/Replace/Exec emits
 *    `installResult` with success=false.
 *  - Retransmitted client messages (same SessionID, MsgID and content) get the identical cached reply.
 */
import { createHash } from 'node:crypto';
import {
  type AuthScheme,
  buildChal,
  buildCred,
  computeHmacMac,
  decodeNonce,
  formatHmacHeader,
  generateNonce,
  HMAC_HEADER,
  parseHmacHeader,
  verifyCred,
  verifyHmac,
} from './dm-auth';
import {
  AlertCode,
  type AlertCommand,
  type Chal,
  type DmCommand,
  type ExecCommand,
  type Item,
  type ItemCommand,
  normalizeAlertType,
  parseSyncML,
  StatusCode,
  type StatusCommand,
  SYNCML_DM_XML_CONTENT_TYPE,
  SYNCML_NAMESPACE_1_2,
  type SyncHdr,
  type SyncMLMessage,
  serializeSyncML,
  VER_DTD_1_2,
  VER_PROTO_DM_1_2,
} from './syncml';

export const SCOMO_OPERATION_COMPLETE = 'org.openmobilealliance.dm.softwarecomponent.OperationComplete';
export const SCOMO_DOWNLOAD_ROOT = './SCOMO/Download';

// ---------------------------------------------------------------------------------------------
// State (plain JSON)
// ---------------------------------------------------------------------------------------------

export interface DmAccountState {
  /** Client credentials (bootstrap APPAUTH CLIENT): AAUTHNAME / AAUTHSECRET. */
  clientUsername: string;
  clientPassword: string;
  /** Base64 nonce the client must use for its next md5 digest / HMAC (AAUTHDATA, then NextNonce). */
  clientNonce: string;
  /** Scheme the server requires from the client. */
  authScheme: AuthScheme;
  /** Server identifier (PROVIDER-ID); the username of the server's own credentials. */
  serverId: string;
  /** Server credentials (APPAUTH APPSRV). When set, the server authenticates itself to the client. */
  serverPassword?: string;
  /** Base64 nonce for the server's digest/HMAC (AAUTHDATA of APPSRV, then the client's NextNonce). */
  serverNonce?: string;
}

export type InstallStage =
  | 'pending'
  | 'adding'
  | 'replacing'
  | 'exec-pending'
  | 'executing'
  | 'accepted'
  | 'completed'
  | 'failed';

export interface DmInstallJob {
  /** The installation (job) id of the workflow. */
  jobId: string;
  /** SCOMO node name under ./SCOMO/Download (URI-safe). */
  pkgId: string;
  /** Download URL the device fetches (PkgURL). */
  packageUrl: string;
  /** Human-readable name (Name). */
  name: string;
  description?: string;
  /** MIME type of the package (PkgType), e.g. application/vnd.ms-cab-compressed. */
  pkgType?: string;
  /** Echoed by the device in the Generic Alert that reports the result. */
  correlator: string;
  stage: InstallStage;
  /** Leaf names whose Add answered 418 (already exists): they are Replaced before Exec. */
  replaceLeaves?: string[];
  /** Final result, once known. */
  resultCode?: number;
}

export type OutstandingPurpose = 'scomo-add' | 'scomo-replace' | 'scomo-exec';

/** A server command that awaits its Status. */
export interface OutstandingCommand {
  msgId: string;
  cmdId: string;
  cmd: string;
  purpose: OutstandingPurpose;
  target: string;
  /** For scomo-add/replace: the leaf name ('' for the interior node). */
  leaf?: string;
}

export type SessionPhase = 'auth' | 'open' | 'ended' | 'aborted' | 'failed';

export interface DmSessionState {
  sessionId: string;
  phase: SessionPhase;
  authenticated: boolean;
  authFailures: number;
  /** Last MsgID received from the client (for retransmission detection). */
  lastClientMsgId?: string;
  /** SHA-256 of that message's parsed content: a retransmission must match it exactly. */
  lastClientMsgHash?: string;
  /** Last MsgID sent by the server in this session (0 before the first reply). */
  serverMsgId: number;
  /** The client answered 212 to the server's credentials. */
  serverAuthenticated: boolean;
  /** Session type from the client's Alert (1200 server-initiated, 1201 client-initiated). */
  initiationAlert?: number;
  outstanding: OutstandingCommand[];
  lastReplyXml?: string;
  lastReplyHeaders?: Record<string, string>;
  lastReplyComplete?: boolean;
}

export interface DmDeviceState {
  v: 1;
  /** The device's SyncHdr Source LocURI (e.g. IMEI:…), learned from its first message if unset. */
  deviceId?: string;
  /** True once an authenticated DM session confirmed the bootstrap. */
  bootstrapped: boolean;
  account: DmAccountState;
  /** ./DevInfo values last reported (DevId, Man, Mod, DmV, Lang, …). */
  devInfo?: Record<string, string>;
  install?: DmInstallJob;
  session?: DmSessionState;
}

export interface DmServerConfig {
  /** Source LocURI of the server's messages; defaults to the Target LocURI the client used. */
  serverUri?: string;
  /** Authentication failures tolerated in one session before answering 401 (default 3). */
  maxAuthFailures?: number;
  /** Require (and rotate the nonce of) credentials in every client message, not just once. */
  perMessageAuth?: boolean;
  /** Advertised in the reply header Meta. */
  maxMsgSize?: number;
  /** Schemes accepted in Cred when authScheme is md5 (default ['md5']); add 'basic' to allow both. */
  acceptedCredSchemes?: readonly ('basic' | 'md5')[];
}

export interface DmHandleContext {
  config?: DmServerConfig;
  /** Nonce source (base64); default 16 random bytes. Inject for deterministic tests. */
  newNonce?: () => string;
  /** The raw request, needed for HMAC: body bytes exactly as received and the x-syncml-hmac header. */
  transport?: { body?: string | Uint8Array; hmacHeader?: string };
  /** RespURI to put in the reply header (e.g. the endpoint URL with a session token). */
  respUri?: string;
}

export type DmEvent =
  | { type: 'sessionStarted'; sessionId: string; deviceId: string }
  | { type: 'authenticated'; sessionId: string; scheme: AuthScheme }
  | { type: 'authFailed'; sessionId: string; attempts: number; final: boolean; reason: string }
  | { type: 'bootstrapConfirmed'; deviceId: string }
  | { type: 'devInfo'; devInfo: Record<string, string> }
  | { type: 'installAccepted'; jobId: string; correlator: string; pkgId: string }
  | {
      type: 'installResult';
      jobId?: string;
      correlator?: string;
      pkgId?: string;
      success: boolean;
      code: number;
      /** Where the result came from. */
      source: 'generic-alert' | 'exec-status' | 'add-status' | 'replace-status' | 'no-status';
    }
  | { type: 'genericAlert'; alertType?: string; correlator?: string; sourceUri?: string; data?: string }
  | { type: 'clientEvent'; alertType?: string; data?: string }
  | { type: 'results'; msgRef?: string; cmdRef: string; items: Item[] }
  | { type: 'serverAuthRejected'; code: number }
  | { type: 'sessionEnded'; sessionId: string; reason: 'completed' | 'aborted-by-client' | 'auth-failed' | 'protocol-error' };

export interface DmHandleResult {
  state: DmDeviceState;
  reply: SyncMLMessage;
  /** The serialized reply (application/vnd.syncml.dm+xml). */
  replyXml: string;
  /** Response headers: Content-Type, and x-syncml-hmac when the reply is signed. */
  headers: Record<string, string>;
  events: DmEvent[];
  /** No further client message is expected in this session. */
  sessionComplete: boolean;
  /** The message was a retransmission; the cached reply was returned and nothing changed. */
  duplicate: boolean;
}

// ---------------------------------------------------------------------------------------------
// Helpers to create state
// ---------------------------------------------------------------------------------------------

export function createDeviceState(params: {
  deviceId?: string;
  bootstrapped?: boolean;
  account: Omit<DmAccountState, 'authScheme'> & { authScheme?: AuthScheme };
}): DmDeviceState {
  const account: DmAccountState = { ...params.account, authScheme: params.account.authScheme ?? 'md5' };
  const s: DmDeviceState = { v: 1, bootstrapped: params.bootstrapped ?? false, account };
  if (params.deviceId !== undefined) s.deviceId = params.deviceId;
  return s;
}

const NODE_NAME = /^[A-Za-z0-9._~-]+$/;

/** Returns a new state with a pending SCOMO DownloadInstall job (replacing any previous job). */
export function withInstallJob(
  state: DmDeviceState,
  job: {
    jobId: string;
    pkgId: string;
    packageUrl: string;
    name: string;
    description?: string;
    pkgType?: string;
    correlator?: string;
  },
): DmDeviceState {
  if (!NODE_NAME.test(job.pkgId)) throw new Error(`pkgId "${job.pkgId}" is not a valid DM node name`);
  const install: DmInstallJob = {
    jobId: job.jobId,
    pkgId: job.pkgId,
    packageUrl: job.packageUrl,
    name: job.name,
    correlator: job.correlator ?? job.jobId,
    stage: 'pending',
  };
  if (job.description !== undefined) install.description = job.description;
  if (job.pkgType !== undefined) install.pkgType = job.pkgType;
  return { ...structuredClone(state), install };
}

/** SCOMO result codes: 1200 success, 1250–1299 success (vendor specified); anything else failed. */
export function isScomoSuccess(code: number): boolean {
  return code === 1200 || (code >= 1250 && code <= 1299);
}

/** Result code from Generic Alert data: "1200", or XML with <ResultCode>1200</ResultCode>. */
export function parseScomoResultCode(data: string | undefined): number | undefined {
  if (data === undefined) return undefined;
  const t = data.trim();
  if (/^\d+$/.test(t)) return Number.parseInt(t, 10);
  const m = /<ResultCode>\s*(\d+)\s*<\/ResultCode>/i.exec(t);
  return m ? Number.parseInt(m[1] as string, 10) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------------

class ReplyBuilder {
  private cmdId = 0;
  readonly commands: DmCommand[] = [];
  nextId(): string {
    this.cmdId += 1;
    return String(this.cmdId);
  }
  status(p: {
    msgRef: string;
    cmdRef: string;
    cmdName: string;
    code: number;
    chal?: Chal;
    targetRefs?: string[];
    sourceRefs?: string[];
  }): StatusCommand {
    const st: StatusCommand = {
      cmd: 'Status',
      cmdId: this.nextId(),
      msgRef: p.msgRef,
      cmdRef: p.cmdRef,
      cmdName: p.cmdName,
      targetRefs: p.targetRefs ?? [],
      sourceRefs: p.sourceRefs ?? [],
      code: p.code,
      items: [],
    };
    if (p.chal) st.chal = p.chal;
    this.commands.push(st);
    return st;
  }
  push(c: DmCommand): void {
    this.commands.push(c);
  }
}

function cmdRefOf(c: DmCommand): string {
  return c.cmdId ?? '';
}

function cmdNameOf(c: DmCommand): string {
  return c.cmd === 'Unknown' ? c.element : c.cmd;
}

function wantsStatus(c: DmCommand): boolean {
  if (c.cmd === 'Status' || c.cmd === 'Results') return false;
  return c.cmd === 'Unknown' || !c.noResp;
}

function newSession(sessionId: string): DmSessionState {
  return {
    sessionId,
    phase: 'auth',
    authenticated: false,
    authFailures: 0,
    serverMsgId: 0,
    serverAuthenticated: false,
    outstanding: [],
  };
}

/** A session that broke off with install commands in flight resumes from a safe stage. */
function resumeInterruptedInstall(s: DmDeviceState): void {
  const job = s.install;
  if (!job) return;
  if (job.stage === 'adding' || job.stage === 'replacing') job.stage = 'pending';
  else if (job.stage === 'executing') job.stage = 'exec-pending';
}

type ClientAuth = { ok: true; scheme: AuthScheme } | { ok: false; reason: string };

function authenticateClient(s: DmDeviceState, msg: SyncMLMessage, ctx: DmHandleContext): ClientAuth {
  const acc = s.account;
  if (acc.authScheme === 'hmac') {
    const header = ctx.transport?.hmacHeader;
    const body = ctx.transport?.body;
    if (header === undefined || body === undefined) return { ok: false, reason: 'missing' };
    const parsed = parseHmacHeader(header);
    if (!parsed) return { ok: false, reason: 'malformed-hmac-header' };
    const ok = verifyHmac({
      header: parsed,
      username: acc.clientUsername,
      password: acc.clientPassword,
      nonce: decodeNonce(acc.clientNonce),
      body,
    });
    return ok ? { ok: true, scheme: 'hmac' } : { ok: false, reason: 'bad-credentials' };
  }
  const allowed: readonly ('basic' | 'md5')[] =
    acc.authScheme === 'basic' ? ['basic'] : (ctx.config?.acceptedCredSchemes ?? ['md5']);
  const opts: { locName?: string; allowed: readonly ('basic' | 'md5')[] } = { allowed };
  if (msg.header.source.locName !== undefined) opts.locName = msg.header.source.locName;
  const check = verifyCred(
    msg.header.cred,
    { username: acc.clientUsername, password: acc.clientPassword, nonceB64: acc.clientNonce },
    opts,
  );
  return check.ok ? { ok: true, scheme: check.scheme } : { ok: false, reason: check.reason };
}

function scomoBase(job: DmInstallJob): string {
  return `${SCOMO_DOWNLOAD_ROOT}/${job.pkgId}`;
}

function scomoLeaves(job: DmInstallJob): [leaf: string, value: string][] {
  const leaves: [string, string][] = [
    ['PkgID', job.pkgId],
    ['Name', job.name],
    ['PkgURL', job.packageUrl],
  ];
  if (job.description !== undefined) leaves.push(['Description', job.description]);
  if (job.pkgType !== undefined) leaves.push(['PkgType', job.pkgType]);
  return leaves;
}

function leafItem(job: DmInstallJob, leaf: string, value: string): Item {
  return { target: { locURI: `${scomoBase(job)}/${leaf}` }, meta: { format: 'chr', type: 'text/plain' }, data: value };
}

/** The next server commands of the install job, or [] when nothing is due. */
function nextInstallCommands(s: DmDeviceState, ses: DmSessionState, msgId: string, rb: ReplyBuilder): DmCommand[] {
  const job = s.install;
  if (!job) return [];
  const out: DmCommand[] = [];
  const track = (c: ItemCommand | ExecCommand, purpose: OutstandingPurpose, target: string, leaf?: string) => {
    const o: OutstandingCommand = { msgId, cmdId: c.cmdId, cmd: c.cmd, purpose, target };
    if (leaf !== undefined) o.leaf = leaf;
    ses.outstanding.push(o);
    out.push(c);
  };
  const exec = () => {
    const target = `${scomoBase(job)}/Operations/DownloadInstall`;
    const c: ExecCommand = {
      cmd: 'Exec',
      cmdId: rb.nextId(),
      correlator: job.correlator,
      items: [{ target: { locURI: target } }],
    };
    track(c, 'scomo-exec', target);
    job.stage = 'executing';
  };
  switch (job.stage) {
    case 'pending': {
      const base = scomoBase(job);
      const interior: ItemCommand<'Add'> = {
        cmd: 'Add',
        cmdId: rb.nextId(),
        items: [{ target: { locURI: base }, meta: { format: 'node' } }],
      };
      track(interior, 'scomo-add', base, '');
      for (const [leaf, value] of scomoLeaves(job)) {
        const c: ItemCommand<'Add'> = { cmd: 'Add', cmdId: rb.nextId(), items: [leafItem(job, leaf, value)] };
        track(c, 'scomo-add', `${base}/${leaf}`, leaf);
      }
      job.replaceLeaves = [];
      job.stage = 'adding';
      break;
    }
    case 'adding': {
      const leaves = job.replaceLeaves ?? [];
      if (leaves.length > 0) {
        const values = new Map(scomoLeaves(job));
        for (const leaf of leaves) {
          const c: ItemCommand<'Replace'> = {
            cmd: 'Replace',
            cmdId: rb.nextId(),
            items: [leafItem(job, leaf, values.get(leaf) ?? '')],
          };
          track(c, 'scomo-replace', `${scomoBase(job)}/${leaf}`, leaf);
        }
        job.stage = 'replacing';
      } else {
        exec();
      }
      break;
    }
    case 'replacing':
    case 'exec-pending':
      exec();
      break;
    default:
      break;
  }
  return out;
}

function failInstall(
  s: DmDeviceState,
  events: DmEvent[],
  code: number,
  source: 'exec-status' | 'add-status' | 'replace-status' | 'no-status',
): void {
  const job = s.install;
  if (!job || job.stage === 'failed' || job.stage === 'completed') return;
  job.stage = 'failed';
  job.resultCode = code;
  events.push({
    type: 'installResult',
    jobId: job.jobId,
    correlator: job.correlator,
    pkgId: job.pkgId,
    success: false,
    code,
    source,
  });
}

function handleServerCommandStatus(s: DmDeviceState, ses: DmSessionState, st: StatusCommand, events: DmEvent[]): void {
  const i = ses.outstanding.findIndex((o) => o.msgId === st.msgRef && o.cmdId === st.cmdRef);
  if (i < 0) return; // late, duplicate or for a command we do not track (e.g. Alert 1222)
  const [o] = ses.outstanding.splice(i, 1);
  const job = s.install;
  if (!o || !job) return;
  switch (o.purpose) {
    case 'scomo-add':
      if (st.code === StatusCode.OK) return;
      if (st.code === StatusCode.ALREADY_EXISTS) {
        if (o.leaf) job.replaceLeaves = [...(job.replaceLeaves ?? []), o.leaf];
        return;
      }
      failInstall(s, events, st.code, 'add-status');
      return;
    case 'scomo-replace':
      if (st.code !== StatusCode.OK) failInstall(s, events, st.code, 'replace-status');
      return;
    case 'scomo-exec':
      if (job.stage !== 'executing') return;
      if (st.code === StatusCode.ACCEPTED_FOR_PROCESSING) {
        job.stage = 'accepted';
        events.push({ type: 'installAccepted', jobId: job.jobId, correlator: job.correlator, pkgId: job.pkgId });
      } else if (st.code === StatusCode.OK) {
        // Completed synchronously (no Generic Alert will follow).
        job.stage = 'completed';
        job.resultCode = StatusCode.OK;
        events.push({ type: 'installAccepted', jobId: job.jobId, correlator: job.correlator, pkgId: job.pkgId });
        events.push({
          type: 'installResult',
          jobId: job.jobId,
          correlator: job.correlator,
          pkgId: job.pkgId,
          success: true,
          code: StatusCode.OK,
          source: 'exec-status',
        });
      } else {
        failInstall(s, events, st.code, 'exec-status');
      }
      return;
  }
}

/** The client refused the server's credentials for message `msgRef`: nothing in it was executed. */
function requeueRejected(s: DmDeviceState, ses: DmSessionState, msgRef: string): void {
  const rejected = ses.outstanding.filter((o) => o.msgId === msgRef);
  if (rejected.length === 0) return;
  ses.outstanding = ses.outstanding.filter((o) => o.msgId !== msgRef);
  const job = s.install;
  if (!job) return;
  if (rejected.some((o) => o.purpose === 'scomo-add')) job.stage = 'pending';
  else if (rejected.some((o) => o.purpose === 'scomo-replace')) job.stage = 'adding';
  else if (rejected.some((o) => o.purpose === 'scomo-exec')) job.stage = 'exec-pending';
}

function handleGenericAlert(s: DmDeviceState, alert: AlertCommand, events: DmEvent[]): number {
  for (const item of alert.items) {
    const alertType = normalizeAlertType(item.meta?.type);
    const sourceUri = item.source?.locURI ?? item.target?.locURI;
    if (alertType === SCOMO_OPERATION_COMPLETE) {
      const code = parseScomoResultCode(item.data) ?? 0;
      const job = s.install;
      const pkgFromUri = sourceUri?.startsWith(`${SCOMO_DOWNLOAD_ROOT}/`)
        ? sourceUri.slice(SCOMO_DOWNLOAD_ROOT.length + 1).split('/')[0]
        : undefined;
      const matches =
        job !== undefined &&
        (alert.correlator !== undefined
          ? alert.correlator === job.correlator
          : pkgFromUri !== undefined && pkgFromUri === job.pkgId);
      const success = isScomoSuccess(code);
      if (matches && job) {
        const done = job.stage === 'completed' || job.stage === 'failed';
        if (done && job.resultCode === code) continue; // duplicate report
        job.stage = success ? 'completed' : 'failed';
        job.resultCode = code;
        events.push({
          type: 'installResult',
          jobId: job.jobId,
          correlator: job.correlator,
          pkgId: job.pkgId,
          success,
          code,
          source: 'generic-alert',
        });
      } else {
        const ev: DmEvent = { type: 'installResult', success, code, source: 'generic-alert' };
        if (alert.correlator !== undefined) ev.correlator = alert.correlator;
        if (pkgFromUri !== undefined) ev.pkgId = pkgFromUri;
        events.push(ev);
      }
    } else {
      const ev: DmEvent = { type: 'genericAlert' };
      if (alertType !== undefined) ev.alertType = alertType;
      if (alert.correlator !== undefined) ev.correlator = alert.correlator;
      if (sourceUri !== undefined) ev.sourceUri = sourceUri;
      if (item.data !== undefined) ev.data = item.data;
      events.push(ev);
    }
  }
  return StatusCode.OK;
}

const KNOWN_CLIENT_ALERTS: ReadonlySet<number> = new Set([
  AlertCode.SERVER_INITIATED_MGMT,
  AlertCode.CLIENT_INITIATED_MGMT,
  AlertCode.NEXT_MESSAGE,
  AlertCode.SESSION_ABORT,
  AlertCode.CLIENT_EVENT,
  AlertCode.GENERIC_ALERT,
]);

/**
 * Processes one parsed client message. Throws only on programming errors; protocol problems are
 * answered in SyncML (status codes).
 */
export function handleDmMessage(state: DmDeviceState, msg: SyncMLMessage, ctx: DmHandleContext = {}): DmHandleResult {
  const hdr = msg.header;
  const prev = state.session;
  const msgHash = createHash('sha256').update(JSON.stringify(msg)).digest('hex');
  if (
    prev &&
    prev.sessionId === hdr.sessionId &&
    prev.lastClientMsgId === hdr.msgId &&
    prev.lastClientMsgHash === msgHash &&
    prev.lastReplyXml !== undefined
  ) {
    return {
      state,
      reply: parseSyncML(prev.lastReplyXml),
      replyXml: prev.lastReplyXml,
      headers: { ...(prev.lastReplyHeaders ?? { 'Content-Type': SYNCML_DM_XML_CONTENT_TYPE }) },
      events: [],
      sessionComplete: prev.lastReplyComplete ?? false,
      duplicate: true,
    };
  }

  const s: DmDeviceState = structuredClone(state);
  const events: DmEvent[] = [];
  const config = ctx.config ?? {};
  const newNonce = ctx.newNonce ?? (() => generateNonce());
  const maxFailures = config.maxAuthFailures ?? 3;
  const deviceUri = hdr.source.locURI;
  if (s.deviceId === undefined) s.deviceId = deviceUri;

  if (!prev || prev.sessionId !== hdr.sessionId || (hdr.msgId === '1' && prev.phase !== 'auth')) {
    resumeInterruptedInstall(s);
    s.session = newSession(hdr.sessionId);
    events.push({ type: 'sessionStarted', sessionId: hdr.sessionId, deviceId: deviceUri });
  }
  const ses = s.session as DmSessionState;
  ses.lastClientMsgId = hdr.msgId;
  ses.lastClientMsgHash = msgHash;
  ses.serverMsgId += 1;
  const serverMsgId = String(ses.serverMsgId);
  const rb = new ReplyBuilder();
  const msgRef = hdr.msgId;
  const hdrRefs = { targetRefs: [hdr.target.locURI], sourceRefs: [hdr.source.locURI] };
  let final = true;
  let sessionComplete = false;

  const statusesForAll = (code: number) => {
    for (const c of msg.commands) {
      if (wantsStatus(c)) rb.status({ msgRef, cmdRef: cmdRefOf(c), cmdName: cmdNameOf(c), code });
    }
  };

  const finish = (): DmHandleResult => {
    const reply = buildReplyMessage(s, ses, msg, serverMsgId, rb.commands, final, ctx);
    const replyXml = serializeSyncML(reply);
    const headers: Record<string, string> = { 'Content-Type': SYNCML_DM_XML_CONTENT_TYPE };
    const acc = s.account;
    if (acc.authScheme === 'hmac' && acc.serverPassword !== undefined && acc.serverNonce !== undefined) {
      const mac = computeHmacMac({
        username: acc.serverId,
        password: acc.serverPassword,
        nonce: decodeNonce(acc.serverNonce),
        body: replyXml,
      });
      headers[HMAC_HEADER] = formatHmacHeader({ username: acc.serverId, mac });
    }
    ses.lastReplyXml = replyXml;
    ses.lastReplyHeaders = headers;
    ses.lastReplyComplete = sessionComplete;
    return { state: s, reply, replyXml, headers, events, sessionComplete, duplicate: false };
  };

  // --- protocol version --------------------------------------------------------------------
  const proto = hdr.verProto.trim().toUpperCase();
  if (proto !== 'DM/1.2' && proto !== 'DM/1.1') {
    rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: 513, ...hdrRefs });
    ses.phase = 'failed';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'protocol-error' });
    return finish();
  }

  // --- client authentication ---------------------------------------------------------------
  const acc = s.account;
  let hdrCode: number = StatusCode.OK;
  let hdrChal: Chal | undefined;
  const mustAuthenticate = !ses.authenticated || acc.authScheme === 'hmac' || config.perMessageAuth === true;
  if (ses.phase === 'failed') {
    // Too many failures already: keep refusing until the client starts a new session.
    rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: StatusCode.INVALID_CREDENTIALS, ...hdrRefs });
    statusesForAll(StatusCode.INVALID_CREDENTIALS);
    sessionComplete = true;
    return finish();
  }
  if (mustAuthenticate) {
    const auth = authenticateClient(s, msg, ctx);
    if (!auth.ok) {
      ses.authFailures += 1;
      const isFinal = ses.authFailures >= maxFailures;
      const code = isFinal ? StatusCode.INVALID_CREDENTIALS : StatusCode.MISSING_CREDENTIALS;
      if (acc.authScheme !== 'basic') acc.clientNonce = newNonce();
      rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code, chal: buildChal(acc.authScheme, acc.clientNonce), ...hdrRefs });
      statusesForAll(code);
      events.push({
        type: 'authFailed',
        sessionId: ses.sessionId,
        attempts: ses.authFailures,
        final: isFinal,
        reason: auth.reason,
      });
      if (isFinal) {
        ses.phase = 'failed';
        sessionComplete = true;
        events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'auth-failed' });
      } else if (!ses.authenticated) {
        ses.phase = 'auth';
      }
      return finish();
    }
    hdrCode = ses.authenticated ? StatusCode.OK : StatusCode.AUTHENTICATION_ACCEPTED;
    if (acc.authScheme !== 'basic') {
      acc.clientNonce = newNonce();
      hdrChal = buildChal(acc.authScheme, acc.clientNonce);
    }
    if (!ses.authenticated) {
      ses.authenticated = true;
      ses.authFailures = 0;
      ses.phase = 'open';
      events.push({ type: 'authenticated', sessionId: ses.sessionId, scheme: auth.scheme });
      if (!s.bootstrapped) {
        s.bootstrapped = true;
        events.push({ type: 'bootstrapConfirmed', deviceId: s.deviceId ?? deviceUri });
      }
    }
  }
  const hdrStatus: Parameters<ReplyBuilder['status']>[0] = { msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: hdrCode, ...hdrRefs };
  if (hdrChal) hdrStatus.chal = hdrChal;
  rb.status(hdrStatus);

  // --- statuses the client sent for the server's previous message(s) -----------------------
  const clientStatuses = msg.commands.filter((c): c is StatusCommand => c.cmd === 'Status');
  const rejectedMsgs = new Set<string>();
  for (const st of clientStatuses) {
    if (st.cmdRef !== '0' || st.cmdName !== 'SyncHdr') continue;
    const nonce = st.chal?.meta.nextNonce;
    if (nonce !== undefined && nonce !== '') acc.serverNonce = nonce;
    if (st.code === StatusCode.AUTHENTICATION_ACCEPTED) ses.serverAuthenticated = true;
    if (st.code === StatusCode.INVALID_CREDENTIALS || st.code === StatusCode.MISSING_CREDENTIALS) {
      ses.serverAuthenticated = false;
      rejectedMsgs.add(st.msgRef);
      requeueRejected(s, ses, st.msgRef);
      events.push({ type: 'serverAuthRejected', code: st.code });
    }
  }
  for (const st of clientStatuses) {
    if (st.cmdRef === '0' && st.cmdName === 'SyncHdr') continue;
    if (rejectedMsgs.has(st.msgRef)) continue;
    handleServerCommandStatus(s, ses, st, events);
  }

  // --- the client's commands ---------------------------------------------------------------
  let aborted = false;
  for (const c of msg.commands) {
    switch (c.cmd) {
      case 'Status':
        break;
      case 'Results': {
        const ev: DmEvent = { type: 'results', cmdRef: c.cmdRef, items: c.items };
        if (c.msgRef !== undefined) ev.msgRef = c.msgRef;
        events.push(ev);
        break;
      }
      case 'Alert': {
        let code: number = StatusCode.OK;
        if (!KNOWN_CLIENT_ALERTS.has(c.code)) code = StatusCode.OPTIONAL_FEATURE_NOT_SUPPORTED;
        else if (c.code === AlertCode.SERVER_INITIATED_MGMT || c.code === AlertCode.CLIENT_INITIATED_MGMT)
          ses.initiationAlert = c.code;
        else if (c.code === AlertCode.SESSION_ABORT) aborted = true;
        else if (c.code === AlertCode.GENERIC_ALERT) code = handleGenericAlert(s, c, events);
        else if (c.code === AlertCode.CLIENT_EVENT) {
          for (const item of c.items) {
            const ev: DmEvent = { type: 'clientEvent' };
            const t = normalizeAlertType(item.meta?.type);
            if (t !== undefined) ev.alertType = t;
            if (item.data !== undefined) ev.data = item.data;
            events.push(ev);
          }
        }
        if (!c.noResp) rb.status({ msgRef, cmdRef: c.cmdId, cmdName: 'Alert', code });
        break;
      }
      case 'Replace': {
        const devInfo: Record<string, string> = {};
        const perItem: { uri: string; ok: boolean }[] = [];
        for (const item of c.items) {
          const uri = item.source?.locURI ?? item.target?.locURI ?? '';
          const m = /^\.\/DevInfo\/(.+)$/.exec(uri);
          if (m) devInfo[m[1] as string] = item.data ?? '';
          perItem.push({ uri, ok: m !== null });
        }
        if (Object.keys(devInfo).length > 0) {
          s.devInfo = { ...(s.devInfo ?? {}), ...devInfo };
          events.push({ type: 'devInfo', devInfo });
        }
        if (c.noResp) break;
        if (perItem.every((p) => p.ok)) {
          rb.status({ msgRef, cmdRef: c.cmdId, cmdName: 'Replace', code: StatusCode.OK });
        } else {
          for (const p of perItem) {
            rb.status({
              msgRef,
              cmdRef: c.cmdId,
              cmdName: 'Replace',
              code: p.ok ? StatusCode.OK : StatusCode.NOT_FOUND,
              sourceRefs: [p.uri],
            });
          }
        }
        break;
      }
      case 'Unknown':
        rb.status({ msgRef, cmdRef: cmdRefOf(c), cmdName: c.element, code: StatusCode.BAD_REQUEST });
        break;
      default:
        // Add, Delete, Get, Exec, Copy, Atomic, Sequence: not for a client to send (DM Protocol §8.3).
        if (!c.noResp) rb.status({ msgRef, cmdRef: c.cmdId, cmdName: c.cmd, code: StatusCode.COMMAND_NOT_ALLOWED });
        break;
    }
  }

  if (aborted) {
    ses.phase = 'aborted';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'aborted-by-client' });
    return finish();
  }

  if (!msg.final) {
    // The client's package continues: ask for the next message, send nothing new, no Final.
    rb.push({ cmd: 'Alert', cmdId: rb.nextId(), code: AlertCode.NEXT_MESSAGE, items: [] });
    final = false;
    return finish();
  }

  // The client's package is complete: anything still unanswered will not be answered.
  for (const o of ses.outstanding.splice(0)) {
    if (o.msgId === serverMsgId) continue;
    failInstall(s, events, StatusCode.COMMAND_FAILED, 'no-status');
  }

  const next = nextInstallCommands(s, ses, serverMsgId, rb);
  for (const c of next) rb.push(c);
  if (next.length === 0) {
    ses.phase = 'ended';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'completed' });
  }
  return finish();
}

function buildReplyMessage(
  s: DmDeviceState,
  ses: DmSessionState,
  incoming: SyncMLMessage,
  serverMsgId: string,
  commands: DmCommand[],
  final: boolean,
  ctx: DmHandleContext,
): SyncMLMessage {
  const ih = incoming.header;
  const is11 = ih.verProto.trim().toUpperCase() === 'DM/1.1';
  const header: SyncHdr = {
    verDTD: is11 ? '1.1' : VER_DTD_1_2,
    verProto: is11 ? 'DM/1.1' : VER_PROTO_DM_1_2,
    sessionId: ih.sessionId,
    msgId: serverMsgId,
    target: { locURI: ih.source.locURI },
    source: { locURI: ctx.config?.serverUri ?? ih.target.locURI },
  };
  if (ctx.respUri !== undefined) header.respURI = ctx.respUri;
  const acc = s.account;
  if (acc.serverPassword !== undefined && acc.authScheme !== 'hmac' && !ses.serverAuthenticated) {
    header.cred =
      acc.authScheme === 'basic'
        ? buildCred('basic', acc.serverId, acc.serverPassword)
        : buildCred('md5', acc.serverId, acc.serverPassword, acc.serverNonce ?? '');
  }
  if (ctx.config?.maxMsgSize !== undefined) header.meta = { maxMsgSize: ctx.config.maxMsgSize };
  return {
    namespace: is11 ? 'SYNCML:SYNCML1.1' : SYNCML_NAMESPACE_1_2,
    header,
    commands,
    final,
  };
}

/**
 * Convenience for an HTTP endpoint: parse the body (throws SyncMLParseError on malformed input,
 * answer HTTP 400), pass the raw bytes along for HMAC, and handle the message.
 */
export function handleDmRequest(
  state: DmDeviceState,
  body: string | Uint8Array,
  ctx: Omit<DmHandleContext, 'transport'> & { hmacHeader?: string } = {},
): DmHandleResult {
  const msg = parseSyncML(body);
  const { hmacHeader, ...rest } = ctx;
  const transport: { body: string | Uint8Array; hmacHeader?: string } = { body };
  if (hmacHeader !== undefined) transport.hmacHeader = hmacHeader;
  return handleDmMessage(state, msg, { ...rest, transport });
}
