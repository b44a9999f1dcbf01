/**
 * Device-facing API (mounted on /api/v1/device, device token auth):
 *  - `POST /sync` (D1, D4): stores the inventory, queues `sysinfoSynced` for every open job of the
 *    device, and answers its pending Mark-for-installation jobs with their download links.
 *  - `POST /reports` (D2): download-begin / download-end / post-install results, logged on the job;
 *    download-end success → `downloaded` signal (one per push link: not when the completed download
 *    of the job's latest push link queued it), any failure → `downloadFailed` signal.
 * The work (D5: late syncs, duplicate reports) is services/device-reports.ts. Signals go through the
 * signal outbox: these endpoints never wait on Temporal, and answer the same while it is unreachable
 * (the signals are delivered when it is back).
 */
import { Router } from 'express';
import { z } from 'zod';
import { isUuid } from '../../domain/uuid';
import { acceptReport, syncInventory } from '../../services/device-reports';
import type { ApiContext } from '../context';
import { notFound } from '../http/errors';
import { inventorySchema, parse } from '../http/validation';
import { authenticated, checkedForDevice, deviceToken, requireDevice } from './device-auth';

const reportedAt = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional();

/** `POST /api/v1/device/sync` (validates the request; the OpenAPI document is generated from it). */
export const syncSchema = z.object({
  installed: inventorySchema,
  info: z.record(z.string(), z.unknown()).nullish(),
  /** When the device took this inventory (a queued sync carries its original time). */
  reportedAt,
});

const REPORT_PHASES = ['download-begin', 'download-end', 'post-install'] as const;

/** `POST /api/v1/device/reports` (validates the request; the OpenAPI document is generated from it). */
export const reportSchema = z.object({
  jobId: z.string({ error: 'required' }).min(1, 'required'),
  phase: z.enum(REPORT_PHASES, { error: `must be one of ${REPORT_PHASES.join(', ')}` }),
  result: z.enum(['success', 'failure'], { error: 'must be success or failure' }),
  detail: z.unknown().optional(),
  reportedAt,
});

export function deviceEndpointRoutes(ctx: ApiContext): Router {
  const { db, config } = ctx;
  const deps = { db, outbox: ctx.signalOutbox };
  const r = Router();

  // each authenticates in its one statement (device-auth.ts); a refused body after authenticating
  r.post('/sync', async (req, res) => {
    const token = deviceToken(req);
    const body = await checkedForDevice(db, req, () => parse(syncSchema, req.body ?? {}));
    const { pending, inventoryStored, signalled } = authenticated(req, await syncInventory(deps, token, body));
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
      inventoryStored,
      /** How many open jobs of the device this inventory is passed to (queued for their workflows). */
      signalled,
    });
  });

  r.post('/reports', async (req, res) => {
    const token = deviceToken(req);
    const body = await checkedForDevice(db, req, () => {
      const report = parse(reportSchema, req.body ?? {});
      if (!isUuid(report.jobId)) throw notFound('job');
      return report;
    });
    const { found, duplicate } = authenticated(req, await acceptReport(deps, token, body));
    if (!found) throw notFound('job');
    res.status(202).json({ accepted: true, duplicate });
  });

  // device clients get JSON 404s here (after authentication), not the admin router's 401
  r.use(requireDevice(db));
  r.use((req, _res, next) => next(notFound(`device endpoint ${req.method} ${req.path}`)));
  return r;
}
