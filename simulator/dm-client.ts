/**
 * A simulated OMA DM 1.2 client (a managed device's DM agent), speaking the real protocol over HTTP
 * to DeviceRollout's `/dm` endpoint. Used by the integration tests and by the fleet simulator.
 *
 * What it does, like a device:
 *  - receives WAP pushes (`receivePush`): the OMA CP bootstrap (`application/vnd.wap.connectivity-wbxml`)
 *    installs its DM account (w7: server id, address, CLIENT and APPSRV credentials and nonces) and
 *    then opens a client-initiated session (Alert 1201), which confirms the bootstrap (M2); the
 *    Package #0 trigger (`application/vnd.syncml.notification`) is checked — server id and digest with
 *    the stored server password and nonce — and answered with a server-initiated session (Alert 1200,
 *    SessionID = the trigger's session id) (M1);
 *  - authenticates with `syncml:auth-md5` (username in Source/LocName), follows 407 challenges
 *    (Chal/NextNonce) and keeps the NextNonce of a 212 for the next session; checks the server's
 *    credentials (md5 Cred in the server's SyncHdr) and answers 212 with a fresh NextNonce for it;
 *  - answers the server's commands: Add/Replace (DM tree, 418 when a node exists), Get (Results or
 *    404), Delete, Exec `…/Operations/DownloadInstall` → 202 (accepted for asynchronous processing);
 *  - after the session, runs each accepted DownloadInstall: downloads the package from its PkgURL
 *    (a `/d/<ticket>` link), checks the SHA-256 the server announces, then opens a new session with a
 *    Generic Alert 1226 `org.openmobilealliance.dm.softwarecomponent.OperationComplete` carrying the
 *    Exec's Correlator and the result code (1200, or the failure code it was told to report).
 *  - retransmits a message unchanged when the server answers 5xx or the connection breaks.
 *
 * Knobs: `wrongPassword` (digests with a wrong password → 407 … 401), `failInstall` (report a SCOMO
 * failure code), `neverAnswer` (receive pushes but open no session), `noCredentialsFirst` (first
 * message of each session without Cred → the server's 407 challenge), `sessionAfterBootstrap`.
 *
 * Pushes reach it from the recording channel's `messages` table (`RecordedPushInbox`). Pure
 * TypeScript over fetch: no Temporal, no express.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { type DmAccountBootstrap, readDmAccount } from '../omadm/cp-document';
import { CP_WBXML_CONTENT_TYPE, decodeProvisioningWbxml } from '../omadm/cp-wbxml';
import { computeMd5Digest, decodeNonce, generateNonce } from '../omadm/dm-auth';
import { NOTIFICATION_CONTENT_TYPE, parseNotification, verifyNotification } from '../omadm/notification';
import { SCOMO_OPERATION_COMPLETE } from '../omadm/scomo';
import {
  AlertCode,
  type DmCommand,
  type Item,
  type ItemCommand,
  parseSyncML,
  type ResultsCommand,
  StatusCode,
  type StatusCommand,
  SYNCML_DM_WBXML_CONTENT_TYPE,
  SYNCML_DM_XML_CONTENT_TYPE,
  type SyncHdr,
  type SyncMLMessage,
  serializeSyncML,
} from '../omadm/syncml';
import { decodeSyncMLWbxml, encodeSyncMLWbxml } from '../omadm/syncml-wbxml';

/** SCOMO result codes the client reports (OMA-TS-DM-SCOMO §6.3). */
const SCOMO_RESULT = {
  success: 1200,
  downloadFailed: 1402,
  installFailed: 1405,
  failedValidation: 1407,
} as const;

export interface DmClientKnobs {
  /** Compute every digest with a wrong password: the server challenges (407) and finally refuses (401). */
  wrongPassword?: boolean;
  /** Report a failed install: `true` → 1405 (Install failed), or this SCOMO result code. */
  failInstall?: boolean | number;
  /** Take pushes in but never open a session (a device that is off or ignores the server). */
  neverAnswer?: boolean;
  /** Send the first message of every session without credentials (the server's 407 challenge follows). */
  noCredentialsFirst?: boolean;
  /** Open a client-initiated session right after a bootstrap (default true): this confirms it. */
  sessionAfterBootstrap?: boolean;
  /** Messages with credentials per session before the client gives up (default 5). */
  maxAuthAttempts?: number;
  /**
   * Before the next session, rotate the server nonce as if a NextNonce had been lost: the server's
   * first credentials in it are stale and are answered 401 + Chal with the nonce the client holds.
   */
  staleServerNonceOnce?: boolean;
}

export interface SimulatedDmClientOptions {
  /** SyncHdr Source LocURI, e.g. `IMEI:490154203237518`. */
  deviceUri: string;
  /** ./DevInfo values (DevId defaults to deviceUri). */
  devInfo?: Partial<Record<'Man' | 'Mod' | 'DmV' | 'Lang', string>>;
  knobs?: DmClientKnobs;
  /** HTTP client (default global fetch). */
  fetch?: typeof fetch;
  /** Rewrites server and package URLs before use (e.g. localhost → 127.0.0.1 in tests). */
  rewriteUrl?: (url: string) => string;
  /** Retransmissions of one message after 5xx / connection errors (default 3). */
  retransmissions?: number;
  /** How messages travel (default xml); WBXML is what Windows Mobile and Symbian clients send. */
  encoding?: 'xml' | 'wbxml';
  /**
   * MaxMsgSize announced in every SyncHdr (default 65536): a server message over it is an error. With
   * a small value the server splits its package (Alert 1222 asks for the rest) and chunks large items.
   */
  maxMsgSize?: number;
}

/** A push as the device receives it: media type (+ parameters) and body. */
export interface ReceivedPush {
  contentType: string;
  body: Uint8Array;
  applicationId?: string | null;
}

export interface DmSessionRecord {
  sessionId: string;
  initiation: 'server' | 'client';
  /** Status codes the server gave our SyncHdr, message by message (e.g. [407, 212]). */
  headerCodes: number[];
  /** Server commands received, with the status we answered. */
  commands: { cmd: string; target?: string; status: number }[];
  outcome: 'completed' | 'auth-failed' | 'gave-up' | 'error';
  error?: string;
  /** The server authenticated itself with valid credentials (md5 Cred in its SyncHdr). */
  serverAuthenticated: boolean;
  /** Sizes (bytes) of the server's messages in this session, as received. */
  serverMessageSizes: number[];
  /** Server messages without Final (its package continued in the next message). */
  continuations: number;
  /** Chunks received of items sent with MoreData. */
  chunks: number;
  /** Server credentials refused (401 + Chal with the nonce the client holds). */
  serverCredRejections: number;
}

export type DmClientEvent =
  | { type: 'bootstrap-applied'; serverId: string; address: string }
  | { type: 'bootstrap-rejected'; reason: string }
  | { type: 'trigger-accepted'; sessionId: number }
  | { type: 'trigger-rejected'; reason: string }
  | { type: 'push-ignored'; contentType: string; reason: string }
  | { type: 'session'; session: DmSessionRecord }
  | { type: 'download'; url: string; status: number; bytes: number; sha256?: string; ok: boolean }
  | { type: 'install-reported'; correlator: string; pkgId: string; code: number };

interface PendingOperation {
  pkgId: string;
  correlator: string;
}

/** The DM account as held by the device (credentials and the current nonces, base64). */
export interface DeviceDmAccount {
  serverId: string;
  address: string;
  clientUsername: string;
  clientPassword: string;
  clientNonce: string;
  serverUsername: string;
  serverPassword: string;
  serverNonce: string;
}

const SCOMO_DOWNLOAD = './SCOMO/Download/';
const DOWNLOAD_INSTALL = '/Operations/DownloadInstall';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SimulatedDmClient {
  readonly deviceUri: string;
  readonly knobs: DmClientKnobs;
  /** Everything that happened, in order. */
  readonly events: DmClientEvent[] = [];
  /** The device's DM tree (./SCOMO/Download/… nodes the server added). */
  readonly tree = new Map<string, string>();
  /** The account from the last bootstrap (undefined before one). */
  account: DeviceDmAccount | undefined;
  private readonly http: typeof fetch;
  private readonly rewrite: (url: string) => string;
  private readonly retransmissions: number;
  private readonly devInfo: Record<string, string>;
  private readonly encoding: 'xml' | 'wbxml';
  private readonly maxMsgSize: number;
  /** Item data received so far of an object sent in chunks (MoreData), by target. */
  private readonly partial = new Map<string, { data: string; size?: number }>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: SimulatedDmClientOptions) {
    this.deviceUri = opts.deviceUri;
    this.knobs = { ...(opts.knobs ?? {}) };
    this.http = opts.fetch ?? fetch;
    this.rewrite = opts.rewriteUrl ?? ((u) => u);
    this.retransmissions = opts.retransmissions ?? 3;
    this.encoding = opts.encoding ?? 'xml';
    this.maxMsgSize = opts.maxMsgSize ?? 65_536;
    this.devInfo = {
      DevId: opts.deviceUri,
      Man: opts.devInfo?.Man ?? 'DeviceRollout',
      Mod: opts.devInfo?.Mod ?? 'Simulated DM client',
      DmV: opts.devInfo?.DmV ?? '1.2',
      Lang: opts.devInfo?.Lang ?? 'en-US',
    };
  }

  /** Sessions run so far, oldest first. */
  get sessions(): DmSessionRecord[] {
    return this.events.flatMap((e) => (e.type === 'session' ? [e.session] : []));
  }

  /**
   * Handles one push like a device: bootstrap or trigger, then the session(s) they lead to.
   * Resolves when everything the push started is over (pushes are handled one at a time).
   */
  receivePush(push: ReceivedPush): Promise<void> {
    const run = this.queue.then(() => this.handlePush(push));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Opens a client-initiated session (Alert 1201), e.g. to check in. */
  async checkIn(): Promise<DmSessionRecord> {
    const s = await this.session('client', String(randomInt(1, 0xffff)), []);
    await this.runPendingOperations(s.ops);
    return s.record;
  }

  private async handlePush(push: ReceivedPush): Promise<void> {
    const media = push.contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (media === CP_WBXML_CONTENT_TYPE) {
      let acc: DmAccountBootstrap | undefined;
      try {
        acc = readDmAccount(decodeProvisioningWbxml(push.body));
      } catch (err) {
        this.events.push({ type: 'bootstrap-rejected', reason: (err as Error).message });
        return;
      }
      if (!acc) {
        this.events.push({ type: 'bootstrap-rejected', reason: 'no w7 (OMA DM) APPLICATION with APPSRV and CLIENT credentials' });
        return;
      }
      this.account = {
        serverId: acc.serverId,
        address: acc.address,
        clientUsername: acc.client.username,
        clientPassword: acc.client.password,
        clientNonce: acc.client.nonce,
        serverUsername: acc.server.username ?? acc.serverId,
        serverPassword: acc.server.password,
        serverNonce: acc.server.nonce,
      };
      this.events.push({ type: 'bootstrap-applied', serverId: acc.serverId, address: acc.address });
      if (this.knobs.neverAnswer || this.knobs.sessionAfterBootstrap === false) return;
      await this.checkIn();
      return;
    }
    if (media === NOTIFICATION_CONTENT_TYPE) {
      const acc = this.account;
      if (!acc) {
        this.events.push({ type: 'trigger-rejected', reason: 'no DM account (not bootstrapped)' });
        return;
      }
      let sessionId: number;
      try {
        const n = parseNotification(push.body);
        if (n.trigger.serverId !== acc.serverId) {
          this.events.push({ type: 'trigger-rejected', reason: `unknown server id ${n.trigger.serverId}` });
          return;
        }
        if (!verifyNotification(push.body, { password: acc.serverPassword, nonce: decodeNonce(acc.serverNonce) })) {
          this.events.push({ type: 'trigger-rejected', reason: 'digest mismatch' });
          return;
        }
        sessionId = n.trigger.sessionId;
      } catch (err) {
        this.events.push({ type: 'trigger-rejected', reason: (err as Error).message });
        return;
      }
      this.events.push({ type: 'trigger-accepted', sessionId });
      if (this.knobs.neverAnswer) return;
      const s = await this.session('server', String(sessionId), []);
      await this.runPendingOperations(s.ops);
      return;
    }
    this.events.push({ type: 'push-ignored', contentType: push.contentType, reason: 'not an OMA DM push' });
  }

  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------

  private async session(
    initiation: 'server' | 'client',
    sessionId: string,
    extra: DmCommand[],
  ): Promise<{ record: DmSessionRecord; ops: PendingOperation[] }> {
    const acc = this.account;
    const record: DmSessionRecord = {
      sessionId,
      initiation,
      headerCodes: [],
      commands: [],
      outcome: 'error',
      serverAuthenticated: false,
      serverMessageSizes: [],
      continuations: 0,
      chunks: 0,
      serverCredRejections: 0,
    };
    const ops: PendingOperation[] = [];
    this.partial.clear();
    if (!acc) {
      record.error = 'no DM account';
      this.events.push({ type: 'session', session: record });
      return { record, ops };
    }
    const url = this.rewrite(acc.address);
    const password = this.knobs.wrongPassword ? `${acc.clientPassword}-wrong` : acc.clientPassword;
    const maxAuth = this.knobs.maxAuthAttempts ?? 5;
    let msgId = 0;
    let serverRejections = 0;
    let authenticated = false;
    let authAttempts = 0;
    let sendCred = !this.knobs.noCredentialsFirst;
    /** Our package's commands (re-sent while authentication is pending). */
    let ownCommands: DmCommand[] = [
      {
        cmd: 'Alert',
        cmdId: '',
        code: initiation === 'server' ? AlertCode.SERVER_INITIATED_MGMT : AlertCode.CLIENT_INITIATED_MGMT,
        items: [],
      },
      {
        cmd: 'Replace',
        cmdId: '',
        items: Object.entries(this.devInfo).map(([k, v]) => ({
          source: { locURI: `./DevInfo/${k}` },
          meta: { format: 'chr', type: 'text/plain' },
          data: v,
        })),
      },
      ...extra,
    ];
    let statuses: StatusCommand[] = [];
    let results: ResultsCommand[] = [];
    if (this.knobs.staleServerNonceOnce) {
      this.knobs.staleServerNonceOnce = false;
      acc.serverNonce = generateNonce();
    }

    try {
      for (let guard = 0; guard < 50; guard++) {
        msgId += 1;
        const header: SyncHdr = {
          verDTD: '1.2',
          verProto: 'DM/1.2',
          sessionId,
          msgId: String(msgId),
          target: { locURI: acc.address },
          source: { locURI: this.deviceUri, locName: acc.clientUsername },
          meta: { maxMsgSize: this.maxMsgSize },
        };
        if (!authenticated && sendCred) {
          header.cred = {
            meta: { type: 'syncml:auth-md5', format: 'b64' },
            data: computeMd5Digest(acc.clientUsername, password, decodeNonce(acc.clientNonce)),
          };
          authAttempts += 1;
        }
        sendCred = true;
        let n = 0;
        const renumber = <T extends DmCommand>(c: T): T => ({ ...c, cmdId: String(++n) });
        const out: SyncMLMessage = {
          header,
          commands: [...statuses.map(renumber), ...results.map(renumber), ...ownCommands.map(renumber)],
          final: true,
        };
        const { reply, size } = await this.post(url, out);
        record.serverMessageSizes.push(size);
        if (size > this.maxMsgSize) throw new Error(`the server sent ${size} bytes, over our MaxMsgSize ${this.maxMsgSize}`);
        const rh = reply.header;

        // Our header's status (and the nonce for our next digest)
        const hdrStatus = reply.commands.find(
          (c): c is StatusCommand => c.cmd === 'Status' && c.cmdRef === '0' && c.msgRef === String(msgId),
        );
        const code = hdrStatus?.code ?? 0;
        record.headerCodes.push(code);
        const next = hdrStatus?.chal?.meta.nextNonce;
        if (next !== undefined && next !== '') acc.clientNonce = next;
        if (code === StatusCode.INVALID_CREDENTIALS) {
          record.outcome = 'auth-failed';
          break;
        }
        if (code === StatusCode.MISSING_CREDENTIALS) {
          if (authAttempts >= maxAuth) {
            record.outcome = 'gave-up';
            break;
          }
          statuses = [];
          results = [];
          continue; // same package again, with credentials over the new nonce
        }
        if (code === StatusCode.AUTHENTICATION_ACCEPTED || code === StatusCode.OK) authenticated = true;
        else {
          record.outcome = 'error';
          record.error = `SyncHdr status ${code}`;
          break;
        }
        ownCommands = [];
        statuses = [];
        results = [];

        // The server's header: its credentials
        const serverMsgId = rh.msgId;
        const hdrRefs = { targetRefs: [rh.target.locURI], sourceRefs: [rh.source.locURI] };
        if (rh.cred) {
          const expected = computeMd5Digest(acc.serverUsername, acc.serverPassword, decodeNonce(acc.serverNonce));
          const ok = rh.cred.data.trim() === expected;
          record.serverAuthenticated ||= ok;
          const st = this.status(
            serverMsgId,
            '0',
            'SyncHdr',
            ok ? StatusCode.AUTHENTICATION_ACCEPTED : StatusCode.INVALID_CREDENTIALS,
            hdrRefs,
          );
          if (ok) {
            // Like a real client: the next server digest (and Package #0) must use this new nonce,
            // whether or not this Status reaches the server.
            acc.serverNonce = generateNonce();
          }
          // 212 with the nonce for next time; 401 with the nonce the client holds (the server retries)
          st.chal = { meta: { type: 'syncml:auth-md5', format: 'b64', nextNonce: acc.serverNonce } };
          statuses.push(st);
          if (!ok) {
            // Nothing in a message from an unauthenticated server is executed; it may try again.
            serverRejections += 1;
            record.serverCredRejections += 1;
            const last = reply.final && !reply.commands.some((c) => c.cmd !== 'Status');
            if (serverRejections > 2 || last) {
              record.outcome = 'error';
              record.error = 'the server presented wrong credentials';
              break;
            }
            continue;
          }
        } else {
          statuses.push(this.status(serverMsgId, '0', 'SyncHdr', StatusCode.OK, hdrRefs));
        }

        // The server's commands
        const serverCommands = reply.commands.filter((c) => c.cmd !== 'Status');
        for (const c of serverCommands) {
          const answered = this.execute(c, serverMsgId, ops);
          statuses.push(...answered.statuses);
          results.push(...answered.results);
          record.chunks += answered.statuses.filter((st) => st.code === StatusCode.CHUNKED_ITEM_ACCEPTED).length;
          for (const s of answered.statuses) {
            const entry: DmSessionRecord['commands'][number] = { cmd: s.cmdName, status: s.code };
            if (s.targetRefs[0] !== undefined) entry.target = s.targetRefs[0];
            record.commands.push(entry);
          }
        }
        if (serverCommands.length === 0 && reply.final) {
          record.outcome = 'completed';
          break;
        }
        if (!reply.final) {
          // The server's package continues: ask for its next message.
          record.continuations += 1;
          ownCommands = [{ cmd: 'Alert', cmdId: '', code: AlertCode.NEXT_MESSAGE, items: [] }];
        }
      }
    } catch (err) {
      record.outcome = 'error';
      record.error = (err as Error).message;
    }
    this.events.push({ type: 'session', session: record });
    return { record, ops: record.outcome === 'completed' ? ops : [] };
  }

  private status(
    msgRef: string,
    cmdRef: string,
    cmdName: string,
    code: number,
    refs: { targetRefs?: string[]; sourceRefs?: string[] } = {},
  ): StatusCommand {
    return {
      cmd: 'Status',
      cmdId: '',
      msgRef,
      cmdRef,
      cmdName,
      targetRefs: refs.targetRefs ?? [],
      sourceRefs: refs.sourceRefs ?? [],
      code,
      items: [],
    };
  }

  /** One server command → our Status(es) and Results. */
  private execute(
    c: DmCommand,
    msgRef: string,
    ops: PendingOperation[],
  ): { statuses: StatusCommand[]; results: ResultsCommand[] } {
    const statuses: StatusCommand[] = [];
    const results: ResultsCommand[] = [];
    if (c.cmd === 'Unknown' || c.cmd === 'Status' || c.cmd === 'Results') return { statuses, results };
    const noResp = c.noResp === true;
    const answer = (code: number, target?: string) => {
      if (!noResp) statuses.push(this.status(msgRef, c.cmdId, c.cmd, code, target ? { targetRefs: [target] } : {}));
    };
    switch (c.cmd) {
      case 'Alert':
        answer(StatusCode.OK);
        break;
      case 'Add':
      case 'Replace':
      case 'Delete':
      case 'Get':
      case 'Exec':
      case 'Copy': {
        const cmd = c as ItemCommand;
        for (const item of cmd.items) {
          const target = item.target?.locURI ?? '';
          answer(this.itemCommand(cmd, item, target, msgRef, ops, results), target);
        }
        if (cmd.items.length === 0) answer(StatusCode.INCOMPLETE_COMMAND);
        break;
      }
      default:
        answer(StatusCode.OPTIONAL_FEATURE_NOT_SUPPORTED);
    }
    return { statuses, results };
  }

  private itemCommand(
    cmd: ItemCommand,
    item: Item,
    target: string,
    msgRef: string,
    ops: PendingOperation[],
    results: ResultsCommand[],
  ): number {
    if ((cmd.cmd === 'Add' || cmd.cmd === 'Replace') && (item.moreData || this.partial.has(target))) {
      // A large object in chunks (MoreData): 213 until the last chunk, then the whole object.
      const got = this.partial.get(target) ?? (item.meta?.size !== undefined ? { data: '', size: item.meta.size } : { data: '' });
      got.data += item.data ?? '';
      if (item.moreData) {
        this.partial.set(target, got);
        return StatusCode.CHUNKED_ITEM_ACCEPTED;
      }
      this.partial.delete(target);
      if (got.size !== undefined && Buffer.byteLength(got.data, 'utf8') !== got.size) return StatusCode.SIZE_MISMATCH;
      item = { ...item, data: got.data };
    }
    switch (cmd.cmd) {
      case 'Add':
        if (this.tree.has(target)) return StatusCode.ALREADY_EXISTS;
        this.tree.set(target, item.data ?? '');
        return StatusCode.OK;
      case 'Replace':
        this.tree.set(target, item.data ?? '');
        return StatusCode.OK;
      case 'Delete':
        for (const k of [...this.tree.keys()]) if (k === target || k.startsWith(`${target}/`)) this.tree.delete(k);
        return StatusCode.OK;
      case 'Get': {
        const devInfo = /^\.\/DevInfo\/(.+)$/.exec(target)?.[1];
        const value = devInfo !== undefined ? this.devInfo[devInfo] : this.tree.get(target);
        if (value === undefined) return StatusCode.NOT_FOUND;
        results.push({
          cmd: 'Results',
          cmdId: '',
          msgRef,
          cmdRef: cmd.cmdId,
          targetRefs: [],
          sourceRefs: [],
          items: [{ source: { locURI: target }, meta: { format: 'chr' }, data: value }],
        });
        return StatusCode.OK;
      }
      case 'Exec': {
        if (!target.startsWith(SCOMO_DOWNLOAD) || !target.endsWith(DOWNLOAD_INSTALL)) return StatusCode.NOT_FOUND;
        const pkgId = target.slice(SCOMO_DOWNLOAD.length, -DOWNLOAD_INSTALL.length);
        if (!this.tree.has(`${SCOMO_DOWNLOAD}${pkgId}/PkgURL`)) return StatusCode.NOT_FOUND;
        ops.push({ pkgId, correlator: cmd.correlator ?? '' });
        return StatusCode.ACCEPTED_FOR_PROCESSING;
      }
      default:
        return StatusCode.OPTIONAL_FEATURE_NOT_SUPPORTED;
    }
  }

  /** Downloads and "installs" each accepted package, then reports it in a new session (Generic Alert 1226). */
  private async runPendingOperations(ops: PendingOperation[]): Promise<void> {
    for (const op of ops) {
      const url = this.tree.get(`${SCOMO_DOWNLOAD}${op.pkgId}/PkgURL`) ?? '';
      let code: number = SCOMO_RESULT.success;
      const got = await this.download(url);
      if (!got) code = SCOMO_RESULT.downloadFailed;
      else if (this.knobs.failInstall)
        code = this.knobs.failInstall === true ? SCOMO_RESULT.installFailed : this.knobs.failInstall;
      const alert: DmCommand = {
        cmd: 'Alert',
        cmdId: '',
        code: AlertCode.GENERIC_ALERT,
        correlator: op.correlator,
        items: [
          {
            source: { locURI: `${SCOMO_DOWNLOAD}${op.pkgId}${DOWNLOAD_INSTALL}` },
            meta: {
              type: SCOMO_OPERATION_COMPLETE,
              format: 'int',
              mark: code === SCOMO_RESULT.success ? 'informational' : 'critical',
            },
            data: String(code),
          },
        ],
      };
      const s = await this.session('client', String(randomInt(1, 0xffff)), [alert]);
      if (s.record.outcome === 'completed') {
        this.events.push({ type: 'install-reported', correlator: op.correlator, pkgId: op.pkgId, code });
      }
      await this.runPendingOperations(s.ops);
    }
  }

  private async download(url: string): Promise<boolean> {
    if (!url) {
      this.events.push({ type: 'download', url, status: 0, bytes: 0, ok: false });
      return false;
    }
    try {
      const res = await this.http(this.rewrite(url));
      const bytes = Buffer.from(await res.arrayBuffer());
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const announced = res.headers.get('x-checksum-sha256');
      const ok = res.status === 200 && (announced === null || announced.toLowerCase() === sha256);
      this.events.push({ type: 'download', url, status: res.status, bytes: bytes.length, sha256, ok });
      return ok;
    } catch {
      this.events.push({ type: 'download', url, status: 0, bytes: 0, ok: false });
      return false;
    }
  }

  /** POSTs one message in our encoding; retransmits the same bytes after 5xx or a broken connection. */
  private async post(url: string, msg: SyncMLMessage): Promise<{ reply: SyncMLMessage; size: number }> {
    const wbxml = this.encoding === 'wbxml';
    const type = wbxml ? SYNCML_DM_WBXML_CONTENT_TYPE : SYNCML_DM_XML_CONTENT_TYPE;
    const body = wbxml ? encodeSyncMLWbxml(msg) : Buffer.from(serializeSyncML(msg), 'utf8');
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.retransmissions; attempt++) {
      if (attempt > 0) await sleep(50 * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await this.http(url, { method: 'POST', headers: { 'content-type': type, accept: type }, body });
      } catch (err) {
        lastError = err;
        continue;
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      if (res.status >= 500) {
        lastError = new Error(`HTTP ${res.status}`);
        continue;
      }
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${bytes.toString('utf8').slice(0, 200)}`);
      const got = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (got !== type) throw new Error(`the server answered ${got ?? 'no content type'} to ${type}`);
      return { reply: wbxml ? decodeSyncMLWbxml(bytes) : parseSyncML(bytes), size: bytes.length };
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}

// ---------------------------------------------------------------------------------------------
// Push delivery to simulated devices
// ---------------------------------------------------------------------------------------------

/**
 * Reads the binary pushes the recording channel stored (`messages` table) for one MSISDN, oldest
 * first, each once.
 */
export class RecordedPushInbox {
  private lastId = 0;
  constructor(
    private readonly db: Knex,
    readonly msisdn: string,
  ) {}

  /** New binary pushes since the last call. */
  async poll(): Promise<(ReceivedPush & { id: string; idempotencyKey: string })[]> {
    const rows = await this.db('messages')
      .where({ channel: 'binary', recipient: this.msisdn })
      .andWhere('id', '>', this.lastId)
      .orderBy('id')
      .select('id', 'idempotency_key', 'content_type', 'body', 'payload');
    const last = rows[rows.length - 1];
    if (last) this.lastId = Number(last.id);
    return rows.map((r: any) => ({
      id: String(r.id),
      idempotencyKey: r.idempotency_key,
      contentType: r.content_type ?? '',
      applicationId: r.body,
      body: Buffer.from(r.payload ?? []),
    }));
  }

  /** Waits (polling) for the next push; throws after `timeoutMs`. */
  async next(
    opts: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<ReceivedPush & { id: string; idempotencyKey: string }> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      const [first] = await this.peekOne();
      if (first) return first;
      if (Date.now() > deadline) throw new Error(`no binary push for ${this.msisdn} within ${opts.timeoutMs ?? 30_000} ms`);
      await sleep(opts.intervalMs ?? 100);
    }
  }

  private buffered: (ReceivedPush & { id: string; idempotencyKey: string })[] = [];
  private async peekOne() {
    if (this.buffered.length === 0) this.buffered = await this.poll();
    const first = this.buffered.shift();
    return first ? [first] : [];
  }

  /** Waits for the next push and hands it to the client; resolves when the client is done with it. */
  async deliverNext(
    client: SimulatedDmClient,
    opts: { timeoutMs?: number } = {},
  ): Promise<ReceivedPush & { id: string; idempotencyKey: string }> {
    const p = await this.next(opts);
    await client.receivePush(p);
    return p;
  }
}
