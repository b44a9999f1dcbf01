/**
 * One OMA DM message of a device (docs/dm.md), the session state machine (omadm/session.ts)
 * run against the device's DM record, which is locked (`SELECT … FOR UPDATE`) for the whole message:
 * concurrent messages of one device serialize, and any API instance serves any message. The events
 * are acted on in the same transaction: bootstrap confirmed → `devices.bootstrapped` and the
 * `bootstrapConfirmed` signal to the device's open install workflows; install result → the
 * `dmInstallResult` signal to the job's workflow; log entries (idempotent keys) for bootstrap
 * confirmation, accepted installs, results and refused authentication. A signal that cannot be
 * delivered rolls everything back (`unavailable`): the device retransmits the same message and it is
 * processed again (signals are idempotent in the workflow). Messages of unknown devices are answered
 * like wrong credentials (407, then 401), revealing nothing.
 */
import { randomBytes } from 'node:crypto';
import { STATUS } from '../domain/status';
import { isUuid } from '../domain/uuid';
import type { Db } from '../infra/db';
import { generateNonce } from '../omadm/dm-auth';
import { isScomoSuccess } from '../omadm/scomo';
import { handleDmMessage } from '../omadm/session';
import {
  createDeviceState,
  type DmDeviceState,
  type DmEncoding,
  type DmEvent,
  type DmHandleResult,
  type DmServerConfig,
} from '../omadm/session-model';
import { dmSecretBox, lockDmDeviceForMessage, saveDmDevice } from '../omadm/store';
import type { SyncMLMessage } from '../omadm/syncml';
import { bootstrapConfirmedSignal, dmInstallResultSignal } from '../workflows/messages';
import { jobOfDevice, jobState, openJobsOfDevice } from './installations/device-jobs';
import { installWorkflowIdOf } from './installations/jobs';
import { addLogEntry, type LogEvent } from './installations/log';
import { type Signaller, signalAll } from './signals';

export interface DmSessionDeps {
  db: Db;
  signaller: Signaller;
  /** DM_SECRET_KEY (else the key file in dataDir): encrypts the DM credentials at rest. */
  secretKey?: string;
  dataDir: string;
  /** Authentication failures tolerated in one session before 401 (default 3). */
  maxAuthFailures?: number;
  /** Nonce source (tests). */
  newNonce?: () => string;
}

/** SCOMO result codes (OMA-TS-DM-SCOMO 1.0 §6.3), for log lines and signal details. */
const SCOMO_RESULTS: Readonly<Record<number, string>> = {
  1200: 'Successful',
  1400: 'Client error',
  1401: 'User cancelled',
  1402: 'Download failed',
  1403: 'Alternate download authentication failure',
  1404: 'Download failed due to device out of memory',
  1405: 'Install failed',
  1406: 'Install failed due to device out of memory',
  1407: 'Failed package validation',
  1408: 'Remove failed',
  1409: 'Activate failed',
  1410: 'Deactivate failed',
  1411: 'Not implemented',
  1412: 'Undefined error',
  1413: 'Operation rejected – unsupported environment',
  1500: 'Alternate download server error',
  1501: 'Alternate download server unavailable',
};

/** A readable description of an install result event (no secrets: codes and sources only). */
function describeInstallResult(e: Extract<DmEvent, { type: 'installResult' }>): string {
  switch (e.source) {
    case 'generic-alert': {
      const text = SCOMO_RESULTS[e.code] ?? (isScomoSuccess(e.code) ? 'Successful (vendor specified)' : 'unknown result code');
      return `SCOMO OperationComplete result code ${e.code} (${text})`;
    }
    case 'exec-status':
      return `Exec DownloadInstall answered status ${e.code}`;
    case 'add-status':
      return `Add of the SCOMO download node answered status ${e.code}`;
    case 'replace-status':
      return `Replace of a SCOMO download leaf answered status ${e.code}`;
    case 'no-status':
      return 'the device ended its package without answering the install commands';
    case 'object-too-large':
      return 'the package description is larger than the device takes (its MaxObjSize): nothing was sent';
  }
}

const writeLog = (trx: Db, installationId: string, event: LogEvent, message: string, entryKey: string) =>
  addLogEntry(trx, { installationId, event, message, entryKey });

/**
 * The answer to a message whose device has no DM record: what a device with wrong credentials gets
 * (407 with a fresh challenge; 401 from the `maxAuthFailures`-th message of the session on), computed
 * from a throw-away state and never stored.
 */
function unknownDeviceReply(
  msg: SyncMLMessage,
  cfg: DmServerConfig,
  encoding: DmEncoding | undefined,
  newNonce?: () => string,
): DmHandleResult {
  const max = cfg.maxAuthFailures ?? 3;
  const n = Number.parseInt(msg.header.msgId, 10);
  const failures = Number.isFinite(n) && n > 1 ? Math.min(n - 1, max - 1) : 0;
  const state: DmDeviceState = createDeviceState({
    account: {
      clientUsername: msg.header.source.locName ?? msg.header.source.locURI,
      clientPassword: randomBytes(24).toString('base64'),
      clientNonce: generateNonce(),
      serverId: 'unknown',
    },
  });
  state.session = {
    sessionId: msg.header.sessionId,
    phase: 'auth',
    authenticated: false,
    authFailures: failures,
    serverMsgId: failures,
    serverAuthenticated: false,
    outstanding: [],
  };
  const ctx: Parameters<typeof handleDmMessage>[2] = { config: cfg };
  if (newNonce) ctx.newNonce = newNonce;
  if (encoding) ctx.encoding = encoding;
  return handleDmMessage(state, msg, ctx);
}

/** SCOMO stages in which the device has not started the install yet. */
const NOT_STARTED: ReadonlySet<string> = new Set(['pending', 'adding', 'replacing', 'exec-pending', 'executing']);

/**
 * A queued install the workflow no longer waits for (it fell back to push, or the job ended) is
 * dropped before the device's session runs, so the device does not install it a second time. Once
 * the device accepted it (202) it is kept: its result is still reported.
 */
async function dropAbandonedInstall(trx: Db, state: DmDeviceState): Promise<void> {
  const job = state.install;
  if (!job || !NOT_STARTED.has(job.stage)) return;
  const inst = isUuid(job.jobId) ? await jobState(trx, job.jobId) : undefined;
  if (inst && !inst.final && inst.status === STATUS.installingSoftware) return;
  delete state.install;
}

/** Acts on the events of one message, inside its transaction. Returns the signals to send. */
async function dispatch(
  trx: Db,
  signaller: Signaller,
  deviceId: string,
  msg: SyncMLMessage,
  events: DmEvent[],
): Promise<Array<() => Promise<unknown>>> {
  const signals: Array<() => Promise<unknown>> = [];
  const open = () => openJobsOfDevice(trx, deviceId);
  /** The job of this device with that id (a device can only report on its own jobs). */
  const jobOf = async (id: string | undefined) => (isUuid(id) ? await jobOfDevice(trx, id, deviceId) : undefined);
  const sessionId = msg.header.sessionId;

  for (const e of events) {
    switch (e.type) {
      case 'authenticated':
        await trx('devices').where({ id: deviceId }).update({ last_contact_at: trx.fn.now() });
        break;
      case 'bootstrapConfirmed': {
        await trx('devices').where({ id: deviceId }).update({ bootstrapped: true });
        const jobs = await open();
        for (const j of jobs) {
          if (j.status !== STATUS.waitingForBootstrap) continue;
          await writeLog(
            trx,
            j.id,
            'info',
            `OMA DM: first authenticated session of the device (${msg.header.source.locURI}): bootstrap confirmed`,
            `dm:bootstrap-confirmed:${sessionId}`,
          );
        }
        const ids = jobs.map(installWorkflowIdOf);
        if (ids.length > 0) signals.push(() => signalAll(signaller, ids, bootstrapConfirmedSignal));
        break;
      }
      case 'installAccepted': {
        const job = await jobOf(e.jobId);
        if (job) {
          await writeLog(
            trx,
            job.id,
            'info',
            `OMA DM: the device accepted DownloadInstall of package ${e.pkgId} (Exec → 202); waiting for its result`,
            `dm:accepted:${e.correlator}`,
          );
        }
        break;
      }
      case 'installResult': {
        const job = await jobOf(e.jobId ?? e.correlator ?? e.pkgId);
        if (!job) break; // a result for no job of this device: answered 200, nothing to tell
        const detail = describeInstallResult(e);
        await writeLog(
          trx,
          job.id,
          e.success ? 'report' : 'error',
          `OMA DM install ${e.success ? 'succeeded' : 'failed'}: ${detail}`,
          `dm:result:${e.correlator ?? e.pkgId ?? job.id}:${e.code}`,
        );
        const payload = { success: e.success, code: e.code, detail };
        signals.push(() => signaller.signal(installWorkflowIdOf(job), dmInstallResultSignal, payload));
        break;
      }
      case 'authFailed': {
        if (!e.final) break;
        for (const j of await open()) {
          if (j.status !== STATUS.waitingForBootstrap && j.status !== STATUS.installingSoftware) continue;
          await writeLog(
            trx,
            j.id,
            'error',
            `OMA DM: the device failed to authenticate ${e.attempts} times (${e.reason}); its session was refused with 401`,
            `dm:auth-failed:${sessionId}`,
          );
        }
        break;
      }
      default:
        break;
    }
  }
  return signals;
}

/** A parsed DM message as it arrived. */
export interface DmRequest {
  msg: SyncMLMessage;
  /** The raw message (the HMAC covers it). */
  body: Buffer;
  /** The `x-syncml-hmac` header, if any. */
  hmacHeader?: string;
  /** The DM account's username (HMAC header, else Source/LocName): how the device's record is found. */
  username?: string;
  /** The encoding of the message; the reply uses the same one (default xml). */
  encoding?: DmEncoding;
}

/** Handles one message: the reply to send and the device it came from (none for an unknown device). */
export async function handleDmSessionMessage(
  deps: DmSessionDeps,
  { msg, body, hmacHeader, username, encoding }: DmRequest,
): Promise<{ result: DmHandleResult; deviceId: string | undefined }> {
  const { db } = deps;
  const serverConfig: DmServerConfig = { maxAuthFailures: deps.maxAuthFailures ?? 3 };
  const box = await dmSecretBox({ secretKey: deps.secretKey, dataDir: deps.dataDir });

  return db.transaction(async (trx) => {
    const rec = await lockDmDeviceForMessage(trx, { username, deviceUri: msg.header.source.locURI }, box);
    if (!rec) return { result: unknownDeviceReply(msg, serverConfig, encoding, deps.newNonce), deviceId: undefined };
    await dropAbandonedInstall(trx, rec.state);
    const handleCtx: Parameters<typeof handleDmMessage>[2] = {
      config: serverConfig,
      transport: hmacHeader !== undefined ? { body, hmacHeader } : { body },
    };
    if (encoding) handleCtx.encoding = encoding;
    if (deps.newNonce) handleCtx.newNonce = deps.newNonce;
    const result = handleDmMessage(rec.state, msg, handleCtx);
    if (result.duplicate) return { result, deviceId: rec.deviceId };
    const authenticated = result.events.some((e) => e.type === 'authenticated');
    rec.state = result.state;
    if (authenticated) rec.deviceUri = msg.header.source.locURI;
    if (result.events.some((e) => e.type === 'bootstrapConfirmed')) rec.bootstrappedAt = new Date();
    await saveDmDevice(trx, rec, box, { lastSessionAt: authenticated });
    const signals = await dispatch(trx, deps.signaller, rec.deviceId, msg, result.events);
    for (const send of signals) await send(); // a failure (unavailable) rolls the message back: the device retransmits
    return { result, deviceId: rec.deviceId };
  });
}
