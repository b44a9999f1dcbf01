/**
 * A rollout's progress (SPEC `GET /rollouts/:id`): `counts` always from PostgreSQL (every job's
 * current status); until the rollout is over — `completed_at`, written by the workflow's last step —
 * the rest from the workflow's `progress` query (5 s at most), else from PostgreSQL. A workflow that
 * has finished but not yet made that last write is reported in the state PostgreSQL has: never
 * `completed` without `completed_at`.
 */
import type { Client } from '@temporalio/client';
import { isFinalRolloutState, type RolloutState } from '../../domain/rollout-state';
import type { Schedule } from '../../domain/schedule';
import type { Db } from '../../infra/db';
import { type RolloutProgress, rolloutProgressQuery, rolloutWorkflowId } from '../../workflows/messages';
import { notFound } from '../errors';
import { rolloutStarts, rolloutStatusCounts } from '../installations/jobs';

/** How long a progress read waits for the workflow's query before reading PostgreSQL. */
const QUERY_TIMEOUT_MS = 5_000;

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

/** The progress PostgreSQL knows of. */
interface StoredProgress {
  counts: Record<string, number>;
  started: number;
  remaining: number;
  /** The next planned start, while the rollout is scheduled or running. */
  nextStart: Date | null;
}

async function storedProgress(db: Db, row: RolloutRow): Promise<StoredProgress> {
  const [counts, starts] = await Promise.all([rolloutStatusCounts(db, row.id), rolloutStarts(db, row.id)]);
  const open = row.state === 'scheduled' || row.state === 'running';
  return { counts, started: starts.started, remaining: starts.remaining, nextStart: open ? starts.nextStart : null };
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
  | { source: 'workflow'; row: RolloutRow; stored: StoredProgress; workflow: RolloutProgress };

/** The rollout and its progress, from the workflow while it runs, from PostgreSQL once over. */
export async function rolloutView(db: Db, temporal: Client, id: string): Promise<RolloutView> {
  let row = await findRollout(db, id);
  const [stored, q] = await Promise.all([storedProgress(db, row), isOver(row) ? undefined : queryProgress(temporal, row)]);
  if (q && isFinalRolloutState(q.state)) {
    const now = await findRollout(db, id);
    if (isOver(now)) return { source: 'database', row: now, stored: await storedProgress(db, now) };
    row = now;
  }
  if (q) {
    return {
      source: 'workflow',
      row: { ...row, state: q.state === 'completed' ? row.state : q.state },
      stored,
      workflow: q,
    };
  }
  return { source: 'database', row, stored };
}
