/**
 * Installation jobs (SPEC V3, V4):
 *  - `GET /api/v1/rollouts/:id/installations?table=installing|installed&status=&limit=&cursor=` — the two
 *    tables of the UI: *Installing* = every job not final yet (including those still waiting for their
 *    slot: status null, `plannedAt` set), *Installed* = final jobs that ended within the retention
 *    (INSTALLED_RETENTION, 7 days) and were not purged. Keyset-paged by seq (planned order).
 *  - `GET /api/v1/installations/:id/log` — the job and its log (every status change, fallback, retry,
 *    error), oldest first. The log stays queryable after the job left the Installed table.
 */
import { Router } from 'express';
import { ALL_STATUSES } from '../../domain/status';
import type { ApiContext } from '../context';
import { badRequest, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, pathId, queryValue } from '../http/validation';

const TABLES = ['installing', 'installed'] as const;
/** Most log entries returned for one job. */
const LOG_LIMIT = 5_000;

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

interface JobRow {
  id: string;
  rollout_id: string;
  seq: number;
  device_id: string;
  external_id: string;
  platform: string;
  status: string | null;
  final: boolean;
  method: string | null;
  detail: string | null;
  workflow_id: string | null;
  planned_at: Date | null;
  started_at: Date | null;
  ended_at: Date | null;
  updated_at: Date;
}

function jobJson(j: JobRow) {
  return {
    id: j.id,
    seq: j.seq,
    deviceId: j.device_id,
    externalId: j.external_id,
    platform: j.platform,
    status: j.status,
    final: j.final,
    method: j.method,
    detail: j.detail,
    workflowId: j.workflow_id,
    plannedAt: iso(j.planned_at),
    startedAt: iso(j.started_at),
    endedAt: iso(j.ended_at),
    updatedAt: iso(j.updated_at) as string,
  };
}

/** A job's status and times (`installations as i`), as the rollout tables and a device's jobs show them. */
export const JOB_STATE_COLUMNS = [
  'i.status',
  'i.final',
  'i.method',
  'i.detail',
  'i.workflow_id',
  'i.planned_at',
  'i.started_at',
  'i.ended_at',
  'i.updated_at',
] as const;

const JOB_COLUMNS = ['i.id', 'i.rollout_id', 'i.seq', 'i.device_id', 'd.external_id', 'd.platform', ...JOB_STATE_COLUMNS];

export function installationRoutes({ db, config }: ApiContext): Router {
  const r = Router();

  r.get('/rollouts/:id/installations', async (req, res) => {
    const rolloutId = pathId(req.params.id, 'rollout');
    const query = req.query as Record<string, unknown>;
    for (const k of Object.keys(query)) {
      if (!['table', 'status', 'limit', 'cursor'].includes(k)) throw badRequest(`${k}: unknown query parameter`, k);
    }
    const table = queryValue(query, 'table') ?? 'installing';
    if (!(TABLES as readonly string[]).includes(table)) throw badRequest('table: must be installing or installed', 'table');
    const status = queryValue(query, 'status');
    if (status !== undefined && !(ALL_STATUSES as readonly string[]).includes(status)) {
      throw badRequest(`status: not a status; one of ${ALL_STATUSES.map((s) => JSON.stringify(s)).join(', ')}`, 'status');
    }
    const limit = pageLimit(query, 50, 500);
    const cursor = decodeCursor(query, 1);
    if (cursor && (typeof cursor[0] !== 'number' || !Number.isInteger(cursor[0]))) {
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    }

    const rollout = await db('rollouts').where({ id: rolloutId }).first('id');
    if (!rollout) throw notFound('rollout');

    const q = db('installations as i')
      .join('devices as d', 'd.id', 'i.device_id')
      .where('i.rollout_id', rolloutId)
      .orderBy('i.seq')
      .limit(limit + 1)
      .select(JOB_COLUMNS);
    if (table === 'installing') q.where('i.final', false);
    else {
      q.where('i.final', true)
        .whereNull('i.purged_at')
        .whereRaw("i.ended_at >= now() - (? * interval '1 millisecond')", [config.installedRetentionMs]);
    }
    if (status !== undefined) q.where('i.status', status);
    if (cursor) q.where('i.seq', '>', cursor[0] as number);
    const rows = (await q) as JobRow[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      rolloutId,
      table,
      installations: page.map(jobJson),
      nextCursor: rows.length > limit && last ? encodeCursor([last.seq]) : null,
    });
  });

  r.get('/installations/:id/log', async (req, res) => {
    const id = pathId(req.params.id, 'installation');
    const job = (await db('installations as i')
      .join('devices as d', 'd.id', 'i.device_id')
      .where('i.id', id)
      .first(JOB_COLUMNS)) as JobRow | undefined;
    if (!job) throw notFound('installation');
    const log = await db('installation_log')
      .where({ installation_id: id })
      .orderBy([
        { column: 'at', order: 'asc' },
        { column: 'id', order: 'asc' },
      ])
      .limit(LOG_LIMIT)
      .select('at', 'event', 'from_status', 'to_status', 'message');
    res.json({
      installation: { ...jobJson(job), rolloutId: job.rollout_id },
      log: log.map(
        (l: { at: Date; event: string; from_status: string | null; to_status: string | null; message: string | null }) => ({
          at: iso(l.at),
          event: l.event,
          from: l.from_status,
          to: l.to_status,
          message: l.message,
        }),
      ),
    });
  });

  return r;
}
