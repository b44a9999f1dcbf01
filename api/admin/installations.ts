/**
 * Installation jobs (SPEC V3, V4):
 *  - `GET /api/v1/rollouts/:id/installations?table=installing|installed&status=&device=&limit=&cursor=` — the two
 *    tables of the UI: *Installing* = every job not final yet (including those still waiting for their
 *    slot: status null, `plannedAt` set), *Installed* = final jobs that ended within the retention
 *    (INSTALLED_RETENTION, 7 days) and were not purged. Keyset-paged by seq (planned order).
 *  - `GET /api/v1/installations/:id/log` — the job and its log (every status change, fallback, retry,
 *    error), oldest first. The log stays queryable after the job left the Installed table.
 *  - `POST /api/v1/installations/:id/cancel` `{ reason? }` — cancels one job by the rules of a rollout's
 *    cancel (services/installations/cancel.ts); role `operator`.
 */
import { Router } from 'express';
import { CancelRequestSchema } from '../../domain/rollout-request';
import { ALL_STATUSES, isInstallStatus } from '../../domain/status';
import { isoOrNull } from '../../domain/time';
import { cancelJob } from '../../services/installations/cancel';
import {
  findJob,
  type JobRow,
  type JobState,
  type JobTable,
  jobLog,
  type LogRow,
  rolloutJobTable,
} from '../../services/installations/views';
import { findRollout } from '../../services/rollouts/progress';
import type { ApiContext } from '../context';
import { badRequest, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { addAuditTargets } from './admin-auth';

const TABLES: readonly JobTable[] = ['installing', 'installed'];
/** Most log entries returned for one job. */
const LOG_LIMIT = 5_000;

/** A job's status and times, as the rollout tables and a device's jobs show them. */
export function jobStateJson(j: JobState) {
  return {
    status: j.status,
    final: j.final,
    method: j.method,
    detail: j.detail,
    workflowId: j.workflow_id,
    plannedAt: isoOrNull(j.planned_at),
    startedAt: isoOrNull(j.started_at),
    endedAt: isoOrNull(j.ended_at),
    updatedAt: isoOrNull(j.updated_at),
  };
}

function jobJson(j: JobRow) {
  return {
    id: j.id,
    seq: j.seq,
    deviceId: j.device_id,
    externalId: j.external_id,
    platform: j.platform,
    ...jobStateJson(j),
  };
}

/** One entry of a job's log (also the entries of a device's jobs). */
export const logEntryJson = (l: LogRow) => ({
  at: isoOrNull(l.at),
  event: l.event,
  from: l.from_status,
  to: l.to_status,
  message: l.message,
});

export function installationRoutes({ db, temporal, config }: ApiContext): Router {
  const r = Router();

  r.get('/rollouts/:id/installations', async (req, res) => {
    const rolloutId = pathId(req.params.id, 'rollout');
    const query = req.query as Record<string, unknown>;
    for (const k of Object.keys(query)) {
      if (!['table', 'status', 'device', 'limit', 'cursor'].includes(k)) throw badRequest(`${k}: unknown query parameter`, k);
    }
    const table = (queryValue(query, 'table') ?? 'installing') as JobTable;
    if (!TABLES.includes(table)) throw badRequest('table: must be installing or installed', 'table');
    const status = queryValue(query, 'status');
    if (status !== undefined && !isInstallStatus(status)) {
      throw badRequest(`status: not a status; one of ${ALL_STATUSES.map((s) => JSON.stringify(s)).join(', ')}`, 'status');
    }
    const device = queryValue(query, 'device')?.trim() || undefined;
    if (device !== undefined && device.length > 200) throw badRequest('device: at most 200 characters', 'device');
    const limit = pageLimit(query, 50, 500);
    const cursor = decodeCursor(query, 1);
    if (cursor && (typeof cursor[0] !== 'number' || !Number.isInteger(cursor[0]))) {
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    }

    await findRollout(db, rolloutId);
    const rows = await rolloutJobTable(db, {
      rolloutId,
      table,
      status,
      device,
      afterSeq: cursor ? (cursor[0] as number) : undefined,
      limit: limit + 1,
      retentionMs: config.installedRetentionMs,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      rolloutId,
      table,
      installations: page.map(jobJson),
      nextCursor: rows.length > limit && last ? encodeCursor([last.seq]) : null,
    });
  });

  r.post('/installations/:id/cancel', async (req, res) => {
    const id = pathId(req.params.id, 'installation');
    addAuditTargets(req, id);
    const body = parse(CancelRequestSchema, req.body ?? {});
    const job = await cancelJob(db, temporal, id, body.reason);
    addAuditTargets(req, job.rolloutId, job.deviceId);
    res.json(job);
  });

  r.get('/installations/:id/log', async (req, res) => {
    const id = pathId(req.params.id, 'installation');
    const job = await findJob(db, id);
    if (!job) throw notFound('installation');
    const log = await jobLog(db, id, LOG_LIMIT);
    res.json({ installation: { ...jobJson(job), rolloutId: job.rollout_id }, log: log.map(logEntryJson) });
  });

  return r;
}
