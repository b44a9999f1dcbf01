/**
 * Starting and watching a rollout WITHOUT the rollout HTTP API: `POST /api/v1/rollouts` done in this
 * process through the same service (services/rollouts/create.ts: the request checked, the rollout and
 * its jobs written, the rollout workflow started) with PostgreSQL and the Temporal client. Used by the
 * benchmark and the simulator's integration test (they own a stack), and by `npm run simulate --
 * --direct` against a server whose rollout API is missing. Unlike the API it takes the timeouts, the
 * pushes per job and the failure threshold (default 0: no early alert) from its options.
 */
import type { Client } from '@temporalio/client';
import { RolloutRequestSchema } from '../domain/rollout-request';
import type { InstallTimeouts } from '../infra/config';
import type { Db } from '../infra/db';
import { rolloutJobCounts, rolloutJobs } from '../services/installations/views';
import { createRollout } from '../services/rollouts/create';
import type { RolloutTuning } from '../workflows/messages';
import { finalCount, type JobView, type RolloutControl, type RolloutRequest } from './control';

export interface DirectControlOptions {
  db: Db;
  client: Client;
  taskQueue: string;
  timeouts: InstallTimeouts;
  /** Pushes per job before it fails (default 1: one ticket lifetime). */
  maxPushAttempts?: number;
  failureThreshold?: number;
  tuning?: RolloutTuning;
}

export function directRolloutControl(o: DirectControlOptions): RolloutControl {
  const { db } = o;
  return {
    via: 'direct (PostgreSQL + Temporal client)',
    async start(req: RolloutRequest) {
      const { id, workflowId } = await createRollout(
        { db, temporal: o.client, taskQueue: o.taskQueue, timeouts: o.timeouts },
        RolloutRequestSchema.parse(req),
        {
          adjust: (input) => ({
            ...input,
            options: { ...input.options, maxPushAttempts: o.maxPushAttempts ?? 1 },
            failureThreshold: o.failureThreshold ?? 0,
            ...(o.tuning ? { tuning: o.tuning } : {}),
          }),
        },
      );
      return { id, workflowId };
    },
    async view(id) {
      const r = await db('rollouts').where({ id }).first('state', 'total');
      const counts: Record<string, number> = {};
      for (const row of await rolloutJobCounts(db, id)) counts[row.status ?? 'Not started'] = row.n;
      return { state: r?.state, counts, total: Number(r?.total ?? 0), final: finalCount(counts) };
    },
    async jobs(id): Promise<JobView[]> {
      return rolloutJobs(db, id);
    },
  };
}
