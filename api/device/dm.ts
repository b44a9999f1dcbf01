/**
 * The OMA DM session endpoint (issue 7, docs/dm.md): `POST /dm`, `application/vnd.syncml.dm+xml`.
 *
 * Devices authenticate inside SyncML (syncml:auth-md5 on the SyncHdr, or HMAC via `x-syncml-hmac`),
 * never with bearer tokens. Each message:
 *   1. is parsed (malformed → HTTP 400; WBXML or another media type → 415; too large → 413);
 *   2. finds its device's DM record — by the account username (Source/LocName or the HMAC username),
 *      else the Source LocURI — and locks the row (`SELECT … FOR UPDATE`) for the whole message:
 *      concurrent messages of one device serialize, and any API instance serves any message;
 *   3. runs the protocol state machine (omadm/session.ts) and stores the new state;
 *   4. acts on its events inside the same transaction: bootstrap confirmed → `devices.bootstrapped`
 *      and the `bootstrapConfirmed` signal to the device's open install workflows; install result →
 *      the `dmInstallResult` signal to the job's workflow; log rows (`installation_log`, idempotent
 *      entry keys) for bootstrap confirmation, accepted installs, results and refused authentication;
 *   5. answers the SyncML reply (HTTP 200; SyncML status codes inside).
 * A signal that cannot be delivered (Temporal down) rolls everything back and answers 503: the device
 * retransmits the same message and it is processed again (signals are idempotent in the workflow).
 * A retransmitted message (same session, MsgID and content) gets the identical cached reply.
 * Messages of unknown devices are answered like wrong credentials (407, then 401), revealing nothing.
 */
import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, Router } from 'express';
import type { Knex } from 'knex';
import { STATUS } from '../../domain/status';
import { generateNonce, HMAC_HEADER, parseHmacHeader } from '../../omadm/dm-auth';
import { isScomoSuccess } from '../../omadm/scomo';
import { handleDmMessage } from '../../omadm/session';
import {
  createDeviceState,
  type DmDeviceState,
  type DmEvent,
  type DmHandleResult,
  type DmServerConfig,
} from '../../omadm/session-model';
import { dmSecretBox, lockDmDeviceForMessage, saveDmDevice } from '../../omadm/store';
import {
  parseSyncML,
  SYNCML_DM_WBXML_CONTENT_TYPE,
  SYNCML_DM_XML_CONTENT_TYPE,
  type SyncMLMessage,
  SyncMLParseError,
} from '../../omadm/syncml';
import { type Signaller, signalAll, temporalSignaller } from '../../services/signals';
import { bootstrapConfirmedSignal, dmInstallResultSignal, installWorkflowId } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { ApiError, badRequest } from '../http/errors';
import { isUuid } from '../http/validation';

export interface DmEndpointOptions {
  /** How install workflows are signalled (default: the Temporal client of the context). */
  signaller?: Signaller;
  /** Authentication failures tolerated in one session before 401 (default 3). */
  maxAuthFailures?: number;
  /** Nonce source (tests). */
  newNonce?: () => string;
  /** Called after each handled message (tests, diagnostics): never carries secrets. */
  onMessage?: (e: { deviceId?: string; duplicate: boolean; events: DmEvent[]; sessionComplete: boolean }) => void;
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
export function describeInstallResult(e: Extract<DmEvent, { type: 'installResult' }>): string {
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
  }
}

interface OpenInstallation {
  id: string;
  rollout_id: string;
  device_id: string;
  status: string | null;
  workflow_id: string | null;
}

const workflowOf = (i: OpenInstallation) => i.workflow_id ?? installWorkflowId(i.rollout_id, i.device_id);

async function writeLog(trx: Knex.Transaction, installationId: string, event: string, message: string, entryKey: string) {
  await trx('installation_log')
    .insert({ installation_id: installationId, event, message, entry_key: entryKey })
    .onConflict(['installation_id', 'entry_key'])
    .ignore();
}

/**
 * The answer to a message whose device has no DM record: what a device with wrong credentials gets
 * (407 with a fresh challenge; 401 from the `maxAuthFailures`-th message of the session on), computed
 * from a throw-away state and never stored.
 */
function unknownDeviceReply(msg: SyncMLMessage, cfg: DmServerConfig, newNonce?: () => string): DmHandleResult {
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
  return handleDmMessage(state, msg, ctx);
}

/** SCOMO stages in which the device has not started the install yet. */
const NOT_STARTED: ReadonlySet<string> = new Set(['pending', 'adding', 'replacing', 'exec-pending', 'executing']);

/**
 * A queued install the workflow no longer waits for (it fell back to push, or the job ended) is
 * dropped before the device's session runs, so the device does not install it a second time. Once
 * the device accepted it (202) it is kept: its result is still reported.
 */
async function dropAbandonedInstall(trx: Knex.Transaction, state: DmDeviceState): Promise<void> {
  const job = state.install;
  if (!job || !NOT_STARTED.has(job.stage)) return;
  const inst = isUuid(job.jobId) ? await trx('installations').where({ id: job.jobId }).first('status', 'final') : undefined;
  if (inst && !inst.final && inst.status === STATUS.installingSoftware) return;
  delete state.install;
}

export function dmRoutes(ctx: ApiContext, opts: DmEndpointOptions = {}): Router {
  const { db, config } = ctx;
  const signaller = opts.signaller ?? temporalSignaller(ctx.temporal);
  const serverConfig: DmServerConfig = { maxAuthFailures: opts.maxAuthFailures ?? 3 };
  const r = Router();

  const requireSyncML = (req: Request, _res: Response, next: (err?: unknown) => void) => {
    const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (type === SYNCML_DM_WBXML_CONTENT_TYPE) {
      next(
        new ApiError(415, 'unsupported_media_type', `WBXML-encoded SyncML is not supported: send ${SYNCML_DM_XML_CONTENT_TYPE}`),
      );
      return;
    }
    if (type !== SYNCML_DM_XML_CONTENT_TYPE) {
      next(new ApiError(415, 'unsupported_media_type', `send a SyncML DM message as ${SYNCML_DM_XML_CONTENT_TYPE}`));
      return;
    }
    next();
  };

  /** Acts on the events of one message, inside its transaction. Returns the signals to send. */
  async function dispatch(
    trx: Knex.Transaction,
    deviceId: string,
    msg: SyncMLMessage,
    events: DmEvent[],
  ): Promise<Array<() => Promise<unknown>>> {
    const signals: Array<() => Promise<unknown>> = [];
    const open = async () =>
      (await trx('installations')
        .where({ device_id: deviceId, final: false })
        .select('id', 'rollout_id', 'device_id', 'status', 'workflow_id')) as OpenInstallation[];
    /** The job of this device with that id (a device can only report on its own jobs). */
    const jobOf = async (id: string | undefined) =>
      isUuid(id)
        ? ((await trx('installations')
            .where({ id, device_id: deviceId })
            .first('id', 'rollout_id', 'device_id', 'status', 'workflow_id')) as OpenInstallation | undefined)
        : undefined;
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
          const ids = jobs.map(workflowOf);
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
          signals.push(() => signaller.signal(workflowOf(job), dmInstallResultSignal, payload));
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

  r.post(
    '/',
    requireSyncML,
    express.raw({ type: () => true, limit: config.dm.maxMessageBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (body.length === 0) throw badRequest('empty SyncML message');
      let msg: SyncMLMessage;
      try {
        msg = parseSyncML(body);
      } catch (err) {
        if (err instanceof SyncMLParseError) throw badRequest(`not a SyncML DM message: ${err.message}`);
        throw err;
      }
      const hmacHeader = req.header(HMAC_HEADER);
      const username = (hmacHeader ? parseHmacHeader(hmacHeader)?.username : undefined) ?? msg.header.source.locName;
      const box = await dmSecretBox({ secretKey: config.dm.secretKey, dataDir: config.dataDir });

      const outcome = await db.transaction(async (trx) => {
        const rec = await lockDmDeviceForMessage(trx, { username, deviceUri: msg.header.source.locURI }, box);
        if (!rec) return { result: unknownDeviceReply(msg, serverConfig, opts.newNonce), deviceId: undefined };
        await dropAbandonedInstall(trx, rec.state);
        const handleCtx: Parameters<typeof handleDmMessage>[2] = {
          config: serverConfig,
          transport: hmacHeader !== undefined ? { body, hmacHeader } : { body },
        };
        if (opts.newNonce) handleCtx.newNonce = opts.newNonce;
        const result = handleDmMessage(rec.state, msg, handleCtx);
        if (result.duplicate) return { result, deviceId: rec.deviceId };
        const authenticated = result.events.some((e) => e.type === 'authenticated');
        rec.state = result.state;
        if (authenticated) rec.deviceUri = msg.header.source.locURI;
        if (result.events.some((e) => e.type === 'bootstrapConfirmed')) rec.bootstrappedAt = new Date();
        await saveDmDevice(trx, rec, box, { lastSessionAt: authenticated });
        const signals = await dispatch(trx, rec.deviceId, msg, result.events);
        for (const send of signals) await send(); // a failure (503) rolls the message back: the device retransmits
        return { result, deviceId: rec.deviceId };
      });
      const { result } = outcome;
      opts.onMessage?.({
        ...(outcome.deviceId ? { deviceId: outcome.deviceId } : {}),
        duplicate: result.duplicate,
        events: result.events,
        sessionComplete: result.sessionComplete,
      });
      res.status(200).set(result.headers).set('Cache-Control', 'no-store').send(result.replyXml);
    },
  );

  r.all('/', (_req, res) => {
    res.set('Allow', 'POST');
    throw new ApiError(405, 'method_not_allowed', `the OMA DM endpoint takes POST ${SYNCML_DM_XML_CONTENT_TYPE}`);
  });

  return r;
}
