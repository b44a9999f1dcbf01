/**
 * The report of a rollout an admin reads (SPEC P1, issue 14): jobs per status, and the three lists —
 * succeeded (a final success status), failed (`Installation failed`, `Unknown status`, with the reason:
 * the last error of the job's log), not heard from (started, and the device has not contacted the
 * server since the job started) — each entry with device id and external id, keyset-paged by seq.
 * Everything is counted in PostgreSQL; a page reads only its rows.
 */
import { jobReason, type ReportListName, type SeqGroup } from '../../domain/report-rows';
import { FAILURE_STATUSES, SUCCESS_STATUSES } from '../../domain/status';
import type { Db } from '../../infra/db';
import { findRollout, type RolloutRow } from './progress';

const NOT_STARTED = 'Not started';

const SUCCESS = [...SUCCESS_STATUSES];
const FAILURE = [...FAILURE_STATUSES];

/** SQL conditions (on `installations i` joined with `devices d`) of each list. */
const LIST_WHERE: Record<ReportListName, string> = {
  succeeded: 'i.final AND i.status = ANY(?::text[])',
  failed: 'i.final AND i.status = ANY(?::text[])',
  'not-heard-from': 'i.started_at IS NOT NULL AND (d.last_contact_at IS NULL OR d.last_contact_at < i.started_at)',
};
const LIST_ARGS: Record<ReportListName, string[][]> = { succeeded: [SUCCESS], failed: [FAILURE], 'not-heard-from': [] };

/** The failure statuses as SQL literals (constants of domain/status.ts). */
const FAILURE_SQL = FAILURE.map((st) => `'${st.replaceAll("'", "''")}'`).join(', ');

/** The last `error` entry of a failed job's log (index installation_log_errors_idx). */
export const LAST_ERROR_JOIN = `LEFT JOIN LATERAL (
    SELECT l.message FROM installation_log l
     WHERE l.installation_id = i.id AND l.event = 'error' AND l.message IS NOT NULL
     ORDER BY l.id DESC LIMIT 1) le ON i.final AND i.status IN (${FAILURE_SQL})`;

export interface ReportEntryRow {
  seq: number;
  installationId: string;
  deviceId: string;
  externalId: string;
  platform: string;
  status: string | null;
  reason: string;
  startedAt: Date | null;
  endedAt: Date | null;
  lastContactAt: Date | null;
}

export interface ReportPage {
  entries: ReportEntryRow[];
  /** The seq after which the next page starts; null on the last page. */
  nextSeq: number | null;
}

export interface RolloutReportData {
  row: RolloutRow;
  software: { id: string; name: string; version: string };
  total: number;
  /** Jobs per status; never-started jobs under `Not started`. */
  counts: Record<string, number>;
  totals: { succeeded: number; failed: number; notHeardFrom: number };
  lists: Partial<Record<ReportListName, ReportPage>>;
}

/** The groups a rollout stores (issue 14 part A), if any: `[{ name, from, size }]` in seq order. */
export function storedGroups(row: RolloutRow): SeqGroup[] | undefined {
  const r = row as RolloutRow & { groups?: unknown };
  const g = r.groups ?? (row.options as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(g)) return undefined;
  const ok = g.every((x) => x && typeof x.name === 'string' && Number.isInteger(x.from) && Number.isInteger(x.size));
  return ok ? (g as SeqGroup[]) : undefined;
}

/** One page of a list. */
async function listPage(db: Db, rolloutId: string, list: ReportListName, afterSeq: number, limit: number): Promise<ReportPage> {
  const { rows } = await db.raw(
    `SELECT i.seq, i.id, i.device_id, d.external_id, d.platform, i.status, i.final, i.detail, i.started_at,
            i.ended_at, d.last_contact_at, le.message AS last_error
       FROM installations i JOIN devices d ON d.id = i.device_id
       ${LAST_ERROR_JOIN}
      WHERE i.rollout_id = ? AND i.seq > ? AND ${LIST_WHERE[list]}
      ORDER BY i.seq LIMIT ?`,
    [rolloutId, afterSeq, ...LIST_ARGS[list], limit + 1] as any[],
  );
  const page = (rows as any[]).slice(0, limit);
  return {
    entries: page.map((r) => ({
      seq: r.seq,
      installationId: r.id,
      deviceId: r.device_id,
      externalId: r.external_id,
      platform: r.platform,
      status: r.status,
      reason: jobReason({ status: r.status, final: r.final, detail: r.detail, lastError: r.last_error }),
      startedAt: r.started_at,
      endedAt: r.ended_at,
      lastContactAt: r.last_contact_at,
    })),
    nextSeq: rows.length > limit && page.length > 0 ? page[page.length - 1].seq : null,
  };
}

/**
 * The report: counts and list totals always; the lists asked for (`lists`), each from `afterSeq`,
 * `limit` entries a page. `not-found` for an unknown rollout.
 */
export async function rolloutReport(
  db: Db,
  rolloutId: string,
  q: { lists: readonly ReportListName[]; afterSeq: number; limit: number },
): Promise<RolloutReportData> {
  const row = await findRollout(db, rolloutId);
  const [software, countRows, totals] = await Promise.all([
    db('software').where({ id: row.software_id }).first('id', 'name', 'version'),
    db('installations')
      .where({ rollout_id: rolloutId })
      .groupBy(db.raw('1'))
      .select(db.raw('coalesce(status, ?) AS status', [NOT_STARTED]), db.raw('count(*)::int AS n')),
    db.raw(
      `SELECT count(*) FILTER (WHERE ${LIST_WHERE.succeeded})::int AS succeeded,
              count(*) FILTER (WHERE ${LIST_WHERE.failed})::int AS failed,
              count(*) FILTER (WHERE ${LIST_WHERE['not-heard-from']})::int AS not_heard_from
         FROM installations i JOIN devices d ON d.id = i.device_id
        WHERE i.rollout_id = ?`,
      [SUCCESS, FAILURE, rolloutId],
    ),
  ]);
  const counts: Record<string, number> = {};
  let total = 0;
  for (const r of countRows as { status: string; n: number }[]) {
    counts[r.status] = r.n;
    total += r.n;
  }
  const t = totals.rows[0] as { succeeded: number; failed: number; not_heard_from: number };
  const lists: RolloutReportData['lists'] = {};
  for (const list of q.lists) lists[list] = await listPage(db, rolloutId, list, q.afterSeq, q.limit);
  return {
    row,
    software,
    total,
    counts,
    totals: { succeeded: t.succeeded, failed: t.failed, notHeardFrom: t.not_heard_from },
    lists,
  };
}
