/**
 * A rollout's progress (SPEC `GET /rollouts/:id`): `counts` always from PostgreSQL (every job's
 * current status); until the rollout is over — `completed_at`, written by the workflow's last step —
 * the rest from the workflow's `progress` query (1 s at most: a busy or unreachable worker never holds a
 * read up), else from PostgreSQL. A workflow that
 * has finished but not yet made that last write is reported in the state PostgreSQL has: never
 * `completed` without `completed_at`.
 */
import type { Client } from '@temporalio/client';
import { type RolloutGroup, type RolloutSafety, successReached } from '../../domain/groups';
import { isFinalRolloutState, type RolloutState } from '../../domain/rollout-state';
import type { Schedule } from '../../domain/schedule';
import { FAILURE_STATUSES, SUCCESS_STATUSES } from '../../domain/status';
import type { Db } from '../../infra/db';
import {
  type GroupProgress,
  type GroupWait,
  type PausedReason,
  type RolloutProgress,
  rolloutProgressQuery,
  rolloutWorkflowId,
} from '../../workflows/messages';
import { notFound } from '../errors';
import { rolloutStatusCounts } from '../installations/jobs';

/** The one group of a rollout without groups. */
const WHOLE_ROLLOUT = 'all';

/** How long a progress read waits for the workflow's query before reading PostgreSQL. */
const QUERY_TIMEOUT_MS = 1_000;

export interface RolloutRow {
  id: string;
  software_id: string;
  options: unknown;
  schedule: Schedule;
  notify: string[];
  state: RolloutState;
  workflow_id: string | null;
  total: number;
  created_at: Date;
  completed_at: Date | null;
  /** Staged groups (issue 14); null: one group. */
  groups: RolloutGroup[] | null;
  safety: RolloutSafety | null;
  paused_reason: PausedReason | null;
  /** Group indexes an admin approved. */
  approved_groups: number[] | null;
}

/** The rollout workflow of a rollout: the id it was started with, else the one it gets. */
export const rolloutWorkflowIdOf = (row: { id: string; workflow_id: string | null }): string =>
  row.workflow_id ?? rolloutWorkflowId(row.id);

/** The rollout's row; `not-found` when there is none. */
export async function findRollout(db: Db, id: string): Promise<RolloutRow> {
  const row = (await db('rollouts').where({ id }).first()) as RolloutRow | undefined;
  if (!row) throw notFound('rollout');
  return row;
}

/** Rollouts per state (/metrics). */
export async function rolloutStateCounts(db: Db): Promise<{ state: string; n: number }[]> {
  const rows = await db('rollouts').groupBy('state').select('state').count({ n: '*' });
  return (rows as Array<Record<string, unknown>>).map((r) => ({ state: String(r.state), n: Number(r.n) }));
}

/** The progress PostgreSQL knows of: the whole read while the workflow cannot answer. */
interface StoredProgress {
  counts: Record<string, number>;
  started: number;
  remaining: number;
  /** The next planned start, while the rollout is scheduled or running (and no group waits). */
  nextStart: Date | null;
  pausedReason: PausedReason | null;
  groups: GroupProgress[];
  waitingFor: GroupWait | null;
  /** Jobs final; started and not final. */
  finished: number;
  outstanding: number;
}

/** One pass over a rollout's jobs, per group. */
interface GroupRow {
  g: number;
  total: number;
  started: number;
  /** Not started and not final. */
  remaining: number;
  /** The earliest planned start among those. */
  next_start: Date | null;
  final: number;
  final_started: number;
  succeeded: number;
  failed: number;
}

/**
 * The groups as PostgreSQL knows them (issue 14), and the starts, from ONE pass over the jobs: counts
 * per group; a group with a start is running, one whose predecessor reached the success threshold is
 * running (or awaiting approval), else waiting. The workflow decides; this is the read while it cannot
 * answer.
 */
async function storedGroups(
  db: Db,
  row: RolloutRow,
): Promise<{
  groups: GroupProgress[];
  waitingFor: GroupWait | null;
  finished: number;
  outstanding: number;
  started: number;
  remaining: number;
  nextStart: Date | null;
}> {
  const rows: GroupRow[] = await db('installations')
    .where({ rollout_id: row.id })
    .groupBy('group_index')
    .orderBy('group_index')
    .select(
      'group_index as g',
      db.raw('count(*)::int as total'),
      db.raw('count(started_at)::int as started'),
      db.raw('count(*) FILTER (WHERE started_at IS NULL AND NOT final)::int as remaining'),
      db.raw('min(planned_at) FILTER (WHERE started_at IS NULL AND NOT final) as next_start'),
      db.raw('count(*) FILTER (WHERE final)::int as final'),
      db.raw('count(*) FILTER (WHERE final AND started_at IS NOT NULL)::int as final_started'),
      db.raw('count(*) FILTER (WHERE final AND status = ANY(?::text[]))::int as succeeded', [[...SUCCESS_STATUSES]]),
      db.raw('count(*) FILTER (WHERE final AND status = ANY(?::text[]))::int as failed', [[...FAILURE_STATUSES]]),
    );
  const defs: RolloutGroup[] = row.groups ?? [{ name: WHOLE_ROLLOUT, from: 0, size: row.total }];
  const approved = new Set(row.approved_groups ?? []);
  let waitingFor: GroupWait | null = null;
  let prevOpen = true;
  const groups = defs.map((d, i): GroupProgress => {
    const c = rows.find((r) => r.g === i) ?? { started: 0, final: 0, succeeded: 0, failed: 0 };
    const prev = i > 0 ? rows.find((r) => r.g === i - 1) : undefined;
    const prevSucceeded =
      i === 0 ||
      (prevOpen && row.safety !== null && successReached(row.safety, defs[i - 1] as RolloutGroup, prev?.succeeded ?? 0));
    let state: GroupProgress['state'];
    if (c.final >= d.size) state = 'done';
    else if (c.started > 0 || i === 0) state = 'running';
    else if (prevSucceeded && (row.safety?.approval !== 'manual' || approved.has(i))) state = 'running';
    else if (prevSucceeded) state = 'awaiting-approval';
    else state = 'waiting';
    if (!waitingFor && (state === 'waiting' || state === 'awaiting-approval') && defs[i - 1] && prevOpen) {
      const before = rows.find((r) => r.g === i - 1);
      if ((before?.started ?? 0) >= (defs[i - 1] as RolloutGroup).size) {
        waitingFor = {
          group: i,
          name: d.name,
          reason: state === 'waiting' ? 'success-threshold' : 'approval',
          message:
            state === 'waiting'
              ? `group ${i} (${d.name}) starts once group ${i - 1} (${defs[i - 1]?.name}) reached the success threshold: ${before?.succeeded ?? 0} of ${defs[i - 1]?.size} succeeded so far`
              : `group ${i} (${d.name}) waits for an admin's approval: POST /api/v1/rollouts/${row.id}/groups/${i}/approve`,
        };
      }
    }
    prevOpen = state === 'running' || state === 'done';
    return { index: i, name: d.name, total: d.size, started: c.started, succeeded: c.succeeded, failed: c.failed, state };
  });
  const sum = (k: 'final' | 'started' | 'final_started' | 'remaining') => rows.reduce((n, r) => n + r[k], 0);
  const starts = rows.map((r) => r.next_start).filter((d): d is Date => d !== null);
  return {
    groups,
    waitingFor,
    finished: sum('final'),
    outstanding: sum('started') - sum('final_started'),
    started: sum('started'),
    remaining: sum('remaining'),
    nextStart: starts.length ? new Date(Math.min(...starts.map((d) => d.getTime()))) : null,
  };
}

/** The whole read from PostgreSQL: the status counts (when not read yet) and one pass over the jobs. */
async function storedProgress(db: Db, row: RolloutRow, counted?: Record<string, number>): Promise<StoredProgress> {
  const [counts, staged] = await Promise.all([counted ?? rolloutStatusCounts(db, row.id), storedGroups(db, row)]);
  const open = (row.state === 'scheduled' || row.state === 'running') && staged.waitingFor === null;
  return {
    counts,
    started: staged.started,
    remaining: staged.remaining,
    nextStart: open ? staged.nextStart : null,
    pausedReason: row.state === 'paused' ? (row.paused_reason ?? 'admin') : null,
    groups: staged.groups,
    waitingFor: row.state === 'scheduled' || row.state === 'running' ? staged.waitingFor : null,
    finished: staged.finished,
    outstanding: staged.outstanding,
  };
}

/**
 * The one group of a rollout without groups, from the workflow's own figures (the same the response
 * gives for the rollout as a whole): no pass over the jobs while the workflow answers.
 */
function wholeRolloutGroup(row: RolloutRow, q: RolloutProgress): GroupProgress {
  const sumOf = (statuses: ReadonlySet<string>) =>
    Object.entries(q.counts).reduce((n, [status, c]) => n + (statuses.has(status) ? c : 0), 0);
  return {
    index: 0,
    name: WHOLE_ROLLOUT,
    total: row.total,
    started: q.started,
    succeeded: sumOf(SUCCESS_STATUSES),
    failed: sumOf(FAILURE_STATUSES),
    state: q.finished >= row.total ? 'done' : 'running',
  };
}

/** The workflow's progress, or undefined when it cannot answer (closed, gone, Temporal down). */
async function queryProgress(client: Client, row: RolloutRow): Promise<RolloutProgress | undefined> {
  try {
    const handle = client.workflow.getHandle(rolloutWorkflowIdOf(row));
    return await Promise.race([
      handle.query(rolloutProgressQuery),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), QUERY_TIMEOUT_MS).unref()),
    ]);
  } catch {
    return undefined;
  }
}

/** The workflow's last step has run: state final and `completed_at` written (a cancelled rollout is
 * `cancelled` from the request on, while its running installs are being cancelled). */
const isOver = (row: RolloutRow): boolean => row.completed_at !== null;

export type RolloutView =
  | { source: 'database'; row: RolloutRow; stored: StoredProgress }
  /** `row.state` is the workflow's (unless it says completed before PostgreSQL does). */
  | {
      source: 'workflow';
      row: RolloutRow;
      /** Jobs per status, from PostgreSQL (every job's current status). */
      counts: Record<string, number>;
      /** The workflow's groups (the one group of a rollout without groups; PostgreSQL's for an older run). */
      groups: GroupProgress[];
      waitingFor: GroupWait | null;
      workflow: RolloutProgress;
    };

/**
 * The rollout and its progress, from the workflow while it runs, from PostgreSQL once over. While the
 * workflow answers, PostgreSQL is read for the status counts only (one index pass): the rest of its
 * read, a pass over every job of the rollout, is made only when the workflow cannot answer.
 */
export async function rolloutView(db: Db, temporal: Client, id: string): Promise<RolloutView> {
  let row = await findRollout(db, id);
  const [counts, q] = await Promise.all([
    rolloutStatusCounts(db, row.id),
    isOver(row) ? undefined : queryProgress(temporal, row),
  ]);
  if (q && isFinalRolloutState(q.state)) {
    const now = await findRollout(db, id);
    if (isOver(now)) return { source: 'database', row: now, stored: await storedProgress(db, now) };
    row = now;
  }
  if (!q) return { source: 'database', row, stored: await storedProgress(db, row, counts) };
  const view = {
    source: 'workflow' as const,
    row: { ...row, state: q.state === 'completed' ? row.state : q.state },
    counts,
    workflow: q,
  };
  if (q.groups && q.waitingFor !== undefined) return { ...view, groups: q.groups, waitingFor: q.waitingFor };
  if (row.groups === null) return { ...view, groups: [wholeRolloutGroup(row, q)], waitingFor: q.waitingFor ?? null };
  // a run from before the workflow reported its groups
  const stored = await storedProgress(db, row, counts);
  return {
    ...view,
    groups: q.groups ?? stored.groups,
    waitingFor: q.waitingFor !== undefined ? q.waitingFor : stored.waitingFor,
  };
}
