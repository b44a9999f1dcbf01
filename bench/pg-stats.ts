/** PostgreSQL's own counters (pg_stat_database, pg_stat_user_tables): writes and commits per phase. */
import type { Db } from '../infra/db';

export interface PgCounters {
  commits: number;
  inserted: number;
  updated: number;
  deleted: number;
  tables: Record<string, { ins: number; upd: number; del: number }>;
}

export async function pgCounters(db: Db): Promise<PgCounters> {
  const d = (
    await db.raw(
      `SELECT xact_commit::bigint AS commits, tup_inserted::bigint AS ins, tup_updated::bigint AS upd, tup_deleted::bigint AS del
         FROM pg_stat_database WHERE datname = current_database()`,
    )
  ).rows[0];
  const t = (
    await db.raw(
      `SELECT relname, n_tup_ins::bigint AS ins, n_tup_upd::bigint AS upd, n_tup_del::bigint AS del FROM pg_stat_user_tables`,
    )
  ).rows as { relname: string; ins: string; upd: string; del: string }[];
  return {
    commits: Number(d.commits),
    inserted: Number(d.ins),
    updated: Number(d.upd),
    deleted: Number(d.del),
    tables: Object.fromEntries(t.map((r) => [r.relname, { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del) }])),
  };
}

export function pgDelta(a: PgCounters, b: PgCounters): PgCounters {
  const tables: PgCounters['tables'] = {};
  for (const [name, v] of Object.entries(b.tables)) {
    const o = a.tables[name] ?? { ins: 0, upd: 0, del: 0 };
    const x = { ins: v.ins - o.ins, upd: v.upd - o.upd, del: v.del - o.del };
    if (x.ins || x.upd || x.del) tables[name] = x;
  }
  return {
    commits: b.commits - a.commits,
    inserted: b.inserted - a.inserted,
    updated: b.updated - a.updated,
    deleted: b.deleted - a.deleted,
    tables,
  };
}
