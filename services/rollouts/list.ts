/**
 * `GET /rollouts?state=&limit=&cursor=` (SPEC P1, issue 14): the rollouts newest first, each with its
 * software, jobs per status and `retryOf`; keyset-paged on (created_at, id) — the cursor carries the
 * timestamp as PostgreSQL prints it (microseconds), so no two rollouts of one millisecond are lost.
 */
import type { RolloutState } from '../../domain/rollout-state';
import type { Db } from '../../infra/db';
import { pageWithCursor } from '../errors';
import type { RolloutRow } from './progress';

export interface ListedRollout extends RolloutRow {
  retry_of: string | null;
  software_name: string;
  software_version: string;
  /** created_at as PostgreSQL prints it: the cursor key. */
  created_key: string;
  counts: Record<string, number>;
}

export async function listRollouts(
  db: Db,
  q: { state?: RolloutState; limit: number; after?: { createdAt: string; id: string } },
): Promise<{ rollouts: ListedRollout[]; next: { createdAt: string; id: string } | null }> {
  const query = db('rollouts as r')
    .join('software as s', 's.id', 'r.software_id')
    .orderBy([
      { column: 'r.created_at', order: 'desc' },
      { column: 'r.id', order: 'desc' },
    ])
    .limit(q.limit + 1)
    .select('r.*', 's.name as software_name', 's.version as software_version', db.raw('r.created_at::text AS created_key'));
  if (q.state) query.where('r.state', q.state);
  if (q.after) query.whereRaw('(r.created_at, r.id) < (?::timestamptz, ?::uuid)', [q.after.createdAt, q.after.id]);
  const rows = (await pageWithCursor(query)) as ListedRollout[];
  const page = rows.slice(0, q.limit);
  const counts = page.length
    ? ((await db('installations')
        .whereIn(
          'rollout_id',
          page.map((r) => r.id),
        )
        .groupBy('rollout_id', 'status')
        .select('rollout_id', db.raw("coalesce(status, 'Not started') AS status"), db.raw('count(*)::int AS n'))) as {
        rollout_id: string;
        status: string;
        n: number;
      }[])
    : [];
  for (const r of page) r.counts = {};
  const byId = new Map(page.map((r) => [r.id, r]));
  for (const c of counts) {
    const r = byId.get(c.rollout_id);
    if (r) r.counts[c.status] = c.n;
  }
  const last = page[page.length - 1];
  return { rollouts: page, next: rows.length > q.limit && last ? { createdAt: last.created_key, id: last.id } : null };
}
