/**
 * The data of the DM session state machine (session.ts): the per-device state as plain JSON (one
 * record per device, persisted by store.ts), the server configuration, the events a message yields
 * and the result of handling it.
 */
import type { AuthScheme } from './dm-auth';
import type { DmCommand, Item, SyncMLMessage } from './syncml';

/** How a message travels: `application/vnd.syncml.dm+xml` or `application/vnd.syncml.dm+wbxml`. */
export type DmEncoding = 'xml' | 'wbxml';

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

type InstallStage = 'pending' | 'adding' | 'replacing' | 'exec-pending' | 'executing' | 'accepted' | 'completed' | 'failed';

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
  /** The server message that carried it; `PENDING_MSG_ID` while it waits in `DmSessionState.pending`. */
  msgId: string;
  cmdId: string;
  cmd: string;
  purpose: OutstandingPurpose;
  target: string;
  /** For scomo-add/replace: the leaf name ('' for the interior node). */
  leaf?: string;
}

/** `OutstandingCommand.msgId` of a command not sent yet (the rest of a package split across messages). */
export const PENDING_MSG_ID = 'pending';

/** A server command of the current package that did not fit in the messages sent so far. */
export interface PendingCommand {
  /** `OutstandingCommand.cmdId` of its entry while pending (entries exist only for tracked commands). */
  key: string;
  command: DmCommand;
  /** The remaining data of an item already partly sent (MoreData): no Size on its next chunk. */
  continued?: true;
}

type SessionPhase = 'auth' | 'open' | 'ended' | 'aborted' | 'failed';

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
  /** The rest of the server's package: sent in the next messages, on the client's Alert 1222. */
  pending?: PendingCommand[];
  /** The client's MaxMsgSize / MaxObjSize (SyncHdr Meta), as last announced in this session. */
  clientMaxMsgSize?: number;
  clientMaxObjSize?: number;
  /** Replies that carried the server's credentials without the client's verdict coming back yet. */
  serverCredSent?: number;
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
  /** The encoding the client used: the reply is written in the same one (default xml). */
  encoding?: DmEncoding;
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
      source: 'generic-alert' | 'exec-status' | 'add-status' | 'replace-status' | 'no-status' | 'object-too-large';
    }
  | { type: 'genericAlert'; alertType?: string; correlator?: string; sourceUri?: string; data?: string }
  | { type: 'clientEvent'; alertType?: string; data?: string }
  | { type: 'results'; msgRef?: string; cmdRef: string; items: Item[] }
  | { type: 'serverAuthRejected'; code: number }
  | { type: 'sessionEnded'; sessionId: string; reason: 'completed' | 'aborted-by-client' | 'auth-failed' | 'protocol-error' };

export interface DmHandleResult {
  state: DmDeviceState;
  reply: SyncMLMessage;
  /** The reply in XML (application/vnd.syncml.dm+xml), whatever the encoding sent. */
  replyXml: string;
  /** The reply as sent: XML or WBXML bytes, as the client wrote its message (never over its MaxMsgSize). */
  replyBody: Buffer;
  /** Response headers: Content-Type, and x-syncml-hmac (over `replyBody`) when the reply is signed. */
  headers: Record<string, string>;
  events: DmEvent[];
  /** No further client message is expected in this session. */
  sessionComplete: boolean;
  /** The message was a retransmission; the cached reply was returned and nothing changed. */
  duplicate: boolean;
}

/** A device's state before its first session; the client must use `syncml:auth-md5` unless told otherwise. */
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
