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

/** One normalized statement's share of a phase (pg_stat_statements), per install. */
export interface StatementCost {
  query: string;
  callsPerInstall: number;
  msPerInstall: number;
  planMsPerInstall: number;
  rowsPerCall: number;
}

export interface StatementProfile {
  /** All statements of our database in the phase, per install. */
  callsPerInstall: number;
  execMsPerInstall: number;
  /** Planning time (`pg_stat_statements.track_planning`): what a prepared statement would not pay again. */
  planMsPerInstall: number;
  /** The most expensive statements by total execution time. */
  top: StatementCost[];
  /**
   * The statements whose slowest single call took ≥ 100 ms (`max_exec_time`; a lock wait counts, the
   * commit's WAL flush does not): tells a device request's stall spent in PostgreSQL's execution from
   * one spent around it. The 5 slowest.
   */
  slowest: { query: string; maxMs: number; calls: number }[];
}

/**
 * pg_stat_statements (loaded by the benchmark's PostgreSQL: `shared_preload_libraries`); false when the
 * server was started without it (then no statement profile is taken).
 */
export async function enableStatementStats(db: Db): Promise<boolean> {
  try {
    await db.raw('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.raw('SELECT pg_stat_statements_reset()');
    return true;
  } catch {
    return false;
  }
}

/** A single call this slow is listed in `slowest`. */
const SLOW_STATEMENT_MS = 100;

/** A statement's text on one line, cut to `max` characters (for the JSON and the log). */
const oneLine = (query: string, max: number) => query.replace(/\s+/g, ' ').slice(0, max);

export async function resetStatementStats(db: Db): Promise<void> {
  await db.raw('SELECT pg_stat_statements_reset()');
}

/** The statements of this database since the last reset, per install (the benchmark's own reads excluded). */
export async function statementProfile(db: Db, installs: number, top = 12): Promise<StatementProfile> {
  const rows = (
    await db.raw(
      `SELECT query, calls::bigint AS calls, total_exec_time AS ms, total_plan_time AS plan_ms, rows::bigint AS rows,
              max_exec_time AS max_ms
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database()
          AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_database%'
        ORDER BY total_exec_time DESC`,
    )
  ).rows as { query: string; calls: string; ms: number; plan_ms: number; rows: string; max_ms: number }[];
  const n = Math.max(1, installs);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    callsPerInstall: r2(rows.reduce((a, r) => a + Number(r.calls), 0) / n),
    execMsPerInstall: r2(rows.reduce((a, r) => a + Number(r.ms), 0) / n),
    planMsPerInstall: r2(rows.reduce((a, r) => a + Number(r.plan_ms), 0) / n),
    top: rows.slice(0, top).map((r) => ({
      query: oneLine(r.query, 300),
      callsPerInstall: r2(Number(r.calls) / n),
      msPerInstall: r2(Number(r.ms) / n),
      planMsPerInstall: r2(Number(r.plan_ms) / n),
      rowsPerCall: r2(Number(r.rows) / Math.max(1, Number(r.calls))),
    })),
    slowest: rows
      .filter((r) => Number(r.max_ms) >= SLOW_STATEMENT_MS)
      .sort((a, b) => Number(b.max_ms) - Number(a.max_ms))
      .slice(0, 5)
      .map((r) => ({
        query: oneLine(r.query, 200),
        maxMs: Math.round(Number(r.max_ms)),
        calls: Number(r.calls),
      })),
  };
}
