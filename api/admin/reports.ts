/**
 * Rollout reports and follow-ups (SPEC P1, G3; issue 14) — parsed here, done by services/rollouts/:
 *  - `GET /api/v1/rollouts?state=&limit=&cursor=` the rollouts, newest first, with jobs per status;
 *  - `GET /api/v1/rollouts/:id/report?list=succeeded|failed|not-heard-from&limit=&cursor=` counts per
 *    status, the totals of the three lists and their entries (device id and external id; failures with
 *    the reason, the last error of the job's log), keyset-paged by the job's seq;
 *  - `GET /api/v1/rollouts/:id/installations.csv` every job as CSV, streamed from a server-side cursor;
 *  - `POST /api/v1/rollouts/:id/retry` a new rollout of the devices whose jobs ended in `statuses`
 *    (`retryOf`), 409 while the source still runs, 400 when no device matches.
 * Roles: the GETs are `viewer`, the retry `operator` (api/admin/admin-auth.ts `roleFor`).
 */
import { Router } from 'express';
import { isReportList, REPORT_LISTS, type ReportListName } from '../../domain/report-rows';
import { RetryRequestSchema } from '../../domain/retry-request';
import { ROLLOUT_STATES, type RolloutState } from '../../domain/rollout-state';
import { isoOrNull } from '../../domain/time';
import type { RolloutDeps } from '../../services/rollouts/create';
import { writeInstallationsCsv } from '../../services/rollouts/csv';
import { listRollouts } from '../../services/rollouts/list';
import { findRollout } from '../../services/rollouts/progress';
import { type ReportEntryRow, type ReportPage, rolloutReport } from '../../services/rollouts/report';
import { retryRollout } from '../../services/rollouts/retry';
import type { ApiContext } from '../context';
import { badRequest } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { addAuditTargets } from './admin-auth';

function onlyParams(query: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(query)) if (!allowed.includes(k)) throw badRequest(`${k}: unknown query parameter`, k);
}

const entryJson = (e: ReportEntryRow, list: ReportListName) => ({
  installationId: e.installationId,
  deviceId: e.deviceId,
  externalId: e.externalId,
  platform: e.platform,
  status: e.status,
  ...(list === 'failed' ? { reason: e.reason } : {}),
  startedAt: isoOrNull(e.startedAt),
  endedAt: isoOrNull(e.endedAt),
  ...(list === 'not-heard-from' ? { lastContactAt: isoOrNull(e.lastContactAt) } : {}),
});

const pageJson = (p: ReportPage, list: ReportListName, total: number) => ({
  total,
  entries: p.entries.map((e) => entryJson(e, list)),
  nextCursor: p.nextSeq === null ? null : encodeCursor([p.nextSeq]),
});

export function reportRoutes({ db, temporal, config }: ApiContext): Router {
  const deps: RolloutDeps = { db, temporal, taskQueue: config.taskQueue, timeouts: config.timeouts };
  const r = Router();

  r.get('/rollouts', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    onlyParams(query, ['state', 'limit', 'cursor']);
    const state = queryValue(query, 'state');
    if (state !== undefined && !(ROLLOUT_STATES as readonly string[]).includes(state)) {
      throw badRequest(`state: must be one of ${ROLLOUT_STATES.join(', ')}`, 'state');
    }
    const limit = pageLimit(query, 50, 200);
    const cursor = decodeCursor(query, 2);
    if (cursor && !cursor.every((k) => typeof k === 'string'))
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    const { rollouts, next } = await listRollouts(db, {
      state: state as RolloutState | undefined,
      limit,
      after: cursor ? { createdAt: cursor[0] as string, id: cursor[1] as string } : undefined,
    });
    res.json({
      rollouts: rollouts.map((x) => ({
        id: x.id,
        state: x.state,
        software: { id: x.software_id, name: x.software_name, version: x.software_version },
        total: x.total,
        counts: x.counts,
        retryOf: x.retry_of,
        createdAt: isoOrNull(x.created_at),
        completedAt: isoOrNull(x.completed_at),
      })),
      nextCursor: next ? encodeCursor([next.createdAt, next.id]) : null,
    });
  });

  r.get('/rollouts/:id/report', async (req, res) => {
    const id = pathId(req.params.id, 'rollout');
    const query = req.query as Record<string, unknown>;
    onlyParams(query, ['list', 'limit', 'cursor']);
    const list = queryValue(query, 'list');
    if (list !== undefined && !isReportList(list)) throw badRequest(`list: must be one of ${REPORT_LISTS.join(', ')}`, 'list');
    const limit = pageLimit(query, 50, 1000);
    const cursor = decodeCursor(query, 1);
    if (cursor && list === undefined) throw badRequest('cursor: page one list at a time: give list= with the cursor', 'cursor');
    if (cursor && (typeof cursor[0] !== 'number' || !Number.isInteger(cursor[0]))) {
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    }
    const lists: readonly ReportListName[] = list ? [list] : REPORT_LISTS;
    const rep = await rolloutReport(db, id, { lists, afterSeq: cursor ? (cursor[0] as number) : -1, limit });
    const totals: Record<ReportListName, number> = {
      succeeded: rep.totals.succeeded,
      failed: rep.totals.failed,
      'not-heard-from': rep.totals.notHeardFrom,
    };
    const listJson = (l: ReportListName) => {
      const page = rep.lists[l];
      return page ? pageJson(page, l, totals[l]) : { total: totals[l] };
    };
    res.json({
      rolloutId: rep.row.id,
      state: rep.row.state,
      software: rep.software,
      retryOf: (rep.row as { retry_of?: string | null }).retry_of ?? null,
      createdAt: isoOrNull(rep.row.created_at),
      completedAt: isoOrNull(rep.row.completed_at),
      total: rep.total,
      counts: rep.counts,
      succeeded: listJson('succeeded'),
      failed: listJson('failed'),
      notHeardFrom: listJson('not-heard-from'),
      csv: `/api/v1/rollouts/${rep.row.id}/installations.csv`,
    });
  });

  r.get('/rollouts/:id/installations.csv', async (req, res) => {
    const row = await findRollout(db, pathId(req.params.id, 'rollout'));
    onlyParams(req.query as Record<string, unknown>, []);
    res.status(200);
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="rollout-${row.id}.csv"`);
    res.setHeader('cache-control', 'no-store');
    try {
      await writeInstallationsCsv(db, row, res);
      res.end();
    } catch (err) {
      // the header is sent: a broken CSV must not look complete
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  });

  r.post('/rollouts/:id/retry', async (req, res) => {
    const id = pathId(req.params.id, 'rollout');
    addAuditTargets(req, id);
    const body = parse(RetryRequestSchema, req.body ?? {});
    const created = await retryRollout(deps, id, body);
    addAuditTargets(req, created.id);
    res.status(201).json(created);
  });

  return r;
}
