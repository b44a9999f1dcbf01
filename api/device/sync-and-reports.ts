/**
 * Device-facing API (mounted on /api/v1/device, device token auth):
 *  - `POST /sync` (D1, D4): stores the inventory, signals `sysinfoSynced` to every open job of the
 *    device, and answers its pending Mark-for-installation jobs with their download links.
 *  - `POST /reports` (D2): download-begin / download-end / post-install results, logged on the job;
 *    download-end success → `downloaded` signal (unless the completed download of the job's latest
 *    push link already signalled it), any failure → `downloadFailed` signal.
 * Devices queue reports while offline (D5): a late sync never overwrites a newer inventory, and a
 * duplicate report is logged once and signalled once — once delivered: a repeat of a report whose
 * signal failed (503) or had not completed when the device gave up waiting delivers it.
 */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { downloadedSignal, downloadFailedSignal, installWorkflowId, sysinfoSyncedSignal } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { deviceOf, requireDevice } from './device-auth';
import { notFound } from '../http/errors';
import { type Signaller, signalAll, temporalSignaller } from '../../services/signals';
import { inventorySchema, isUuid, parse } from '../http/validation';

export interface DeviceEndpointOptions {
  /** How workflows are signalled (default: the Temporal client of the context). */
  signaller?: Signaller;
}

const reportedAt = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional();

/** `POST /api/v1/device/sync` (validates the request; the OpenAPI document is generated from it). */
export const syncSchema = z.object({
  installed: inventorySchema,
  info: z.record(z.string(), z.unknown()).nullish(),
  /** When the device took this inventory (a queued sync carries its original time). */
  reportedAt,
});

export const REPORT_PHASES = ['download-begin', 'download-end', 'post-install'] as const;

/** `POST /api/v1/device/reports` (validates the request; the OpenAPI document is generated from it). */
export const reportSchema = z.object({
  jobId: z.string({ error: 'required' }).min(1, 'required'),
  phase: z.enum(REPORT_PHASES, { error: `must be one of ${REPORT_PHASES.join(', ')}` }),
  result: z.enum(['success', 'failure'], { error: 'must be success or failure' }),
  detail: z.unknown().optional(),
  reportedAt,
});

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Never in the future: a device clock running ahead must not pin its inventory. */
function clampToNow(iso: string | undefined): Date {
  const now = new Date();
  if (!iso) return now;
  const d = new Date(iso);
  return d > now ? now : d;
}

export function deviceEndpointRoutes(ctx: ApiContext, opts: DeviceEndpointOptions = {}): Router {
  const { db, config } = ctx;
  const signaller = opts.signaller ?? temporalSignaller(ctx.temporal);
  const r = Router();
  r.use(requireDevice(db));

  /**
   * The job's latest push link (attempt ≥ 1; 0 is the DM package link) was served to its last byte and
   * that completion was delivered to the workflow as `downloaded` (`download_signalled_at`: the
   * completion claims `downloaded_at` before it signals, and gives it back when the signal fails):
   * a download-end report adds nothing for the workflow.
   */
  const latestPushSignalled = async (jobId: string): Promise<boolean> => {
    const latest = await db('push_tickets')
      .where({ installation_id: jobId })
      .where((q) => q.whereNull('attempt').orWhere('attempt', '>', 0))
      .orderByRaw('coalesce(attempt, 0) desc, created_at desc')
      .first('download_signalled_at');
    return !!latest?.download_signalled_at;
  };

  r.post('/sync', async (req, res) => {
    const device = deviceOf(req);
    const body = parse(syncSchema, req.body ?? {});
    const at = clampToNow(body.reportedAt);
    // Only a sync at least as recent as the stored one replaces the inventory (late syncs: D5).
    const updated = await db('devices')
      .where({ id: device.id })
      .andWhere((q) => q.whereNull('last_sync_at').orWhere('last_sync_at', '<=', at))
      .update({
        installed: JSON.stringify(body.installed),
        ...(body.info != null ? { info: JSON.stringify(body.info) } : {}),
        last_sync_at: at,
      })
      .returning('id');

    const open = await db('installations').where({ device_id: device.id, final: false }).select('rollout_id', 'workflow_id');
    const workflowIds = open.map((i) => (i.workflow_id as string | null) ?? installWorkflowId(i.rollout_id, device.id));
    const { sent } = await signalAll(signaller, workflowIds, sysinfoSyncedSignal, {
      installed: body.installed,
      at: at.toISOString(),
    });

    const pending = await db('installations as i')
      .join('push_tickets as t', 't.installation_id', 'i.id')
      .join('software_files as f', 'f.id', 't.file_id')
      .join('software as s', 's.id', 'f.software_id')
      .where({ 'i.device_id': device.id, 'i.method': 'mark', 'i.status': 'Waiting for download', 'i.final': false })
      .whereNull('t.revoked_at')
      .where('t.expires_at', '>', db.fn.now())
      .distinctOn('i.id')
      .orderBy([
        { column: 'i.id', order: 'asc' },
        { column: 't.created_at', order: 'desc' },
      ])
      .select(
        'i.id as job_id',
        's.name',
        's.version',
        'f.file_name',
        'f.format',
        'f.size',
        'f.sha256',
        't.ticket',
        't.expires_at',
      );
    res.json({
      pending: pending.map((p) => ({
        jobId: p.job_id,
        software: p.name,
        version: p.version,
        url: `${config.publicUrl}/d/${p.ticket}`,
        size: Number(p.size),
        sha256: p.sha256,
        fileName: p.file_name,
        format: p.format,
        expiresAt: new Date(p.expires_at).toISOString(),
      })),
      /** False when a newer sync had already been stored (this one came late). */
      inventoryStored: updated.length > 0,
      /** How many running install workflows of the device were told of this inventory. */
      signalled: sent,
    });
  });

  r.post('/reports', async (req, res) => {
    const device = deviceOf(req);
    const body = parse(reportSchema, req.body ?? {});
    if (!isUuid(body.jobId)) throw notFound('job');
    const job = await db('installations')
      .where({ id: body.jobId.toLowerCase(), device_id: device.id })
      .first('id', 'rollout_id', 'workflow_id');
    if (!job) throw notFound('job');
    const detail =
      body.detail === undefined || body.detail === null
        ? undefined
        : (typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail)).slice(0, 2000);
    const entryKey = `report:${body.phase}:${body.result}:${shortHash(`${detail ?? ''}|${body.reportedAt ?? ''}`)}`;
    const message =
      `device report: ${body.phase} ${body.result}` +
      (detail ? `: ${detail}` : '') +
      (body.reportedAt ? ` (reported at ${body.reportedAt})` : '');
    const now = db.fn.now();
    const workflowId = (job.workflow_id as string | null) ?? installWorkflowId(job.rollout_id, device.id);
    // which workflow signal the report carries, if any
    const signal =
      body.phase === 'download-end' && body.result === 'success'
        ? () =>
            signaller.signal(workflowId, downloadedSignal, { at: clampToNow(body.reportedAt).toISOString(), source: 'report' })
        : body.result === 'failure'
          ? () =>
              signaller.signal(
                workflowId,
                downloadFailedSignal,
                detail === undefined ? { phase: body.phase } : { phase: body.phase, detail },
              )
          : undefined;
    // The entry is written first and kept; `signalled_at` says whether the workflow has it.
    const inserted = await db('installation_log')
      .insert({
        installation_id: job.id,
        event: 'report',
        message,
        entry_key: entryKey,
        signalled_at: signal ? null : now,
      })
      .onConflict(['installation_id', 'entry_key'])
      .ignore()
      .returning('id');
    const isNew = inserted.length > 0;
    const entry: { id: string | number; signalled_at: Date | null } = isNew
      ? { id: inserted[0].id, signalled_at: null }
      : await db('installation_log').where({ installation_id: job.id, entry_key: entryKey }).first('id', 'signalled_at');
    // A repeat of a delivered report changes nothing. A repeat of one whose delivery failed, or is
    // still in flight (the device gave up waiting), delivers it: a second signal is harmless.
    const duplicate = !isNew && (entry.signalled_at !== null || !signal);
    if (signal && !duplicate) {
      // a download-end report adds nothing when the download of the latest push link signalled
      if (!(body.phase === 'download-end' && (await latestPushSignalled(job.id)))) await signal();
      await db('installation_log').where({ id: entry.id }).update({ signalled_at: now });
    }
    res.status(202).json({ accepted: true, duplicate });
  });

  // device clients get JSON 404s here, not the admin router's 401
  r.use((req, _res, next) => next(notFound(`device endpoint ${req.method} ${req.path}`)));
  return r;
}
