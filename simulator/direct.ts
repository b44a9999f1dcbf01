/**
 * Starting and watching a rollout WITHOUT the rollout HTTP API: what `POST /api/v1/rollouts` does,
 * done here through PostgreSQL and the Temporal client — the rollout row, its installation rows (one
 * bulk insert per 5,000, ids `installationIdFor(rollout, seq)` as the rollout workflow expects) and
 * the rollout workflow. Used by the benchmark and the simulator's integration test (they own a
 * stack), and by `npm run simulate -- --direct` against a server whose rollout API is missing.
 * Validation (R1/R7 …) is the API's business and is not repeated here.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { normalizeSchedule, type PartialSchedule, validateSchedule } from '../domain/schedule';
import { RolloutId, RolloutState } from '../domain/search-attributes';
import type { InstallTimeouts } from '../infra/config';
import type { Db } from '../infra/db';
import { installationIdFor, type RolloutInput, type RolloutTuning, rolloutWorkflowId } from '../workflows/messages';
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
      const schedule = normalizeSchedule(req.schedule as PartialSchedule, Date.now());
      const errors = validateSchedule(schedule);
      if (errors.length > 0) throw new Error(`schedule: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
      const deviceIds: string[] =
        'ids' in req.devices
          ? req.devices.ids
          : (
              await db('devices')
                .modify((q) => {
                  const p = (req.devices as { filter: { platform?: string } }).filter.platform;
                  if (p) q.where({ platform: p });
                })
                .orderBy('created_at')
                .select('id')
            ).map((r: { id: string }) => r.id);
      if (deviceIds.length === 0) throw new Error('the rollout selects no device');
      const id = randomUUID();
      const workflowId = rolloutWorkflowId(id);
      await db.transaction(async (trx) => {
        await trx('rollouts').insert({
          id,
          software_id: req.softwareId,
          options: JSON.stringify(req.options),
          schedule: JSON.stringify(schedule),
          notify: req.notify ?? [],
          state: 'scheduled',
          workflow_id: workflowId,
          total: deviceIds.length,
        });
        for (let i = 0; i < deviceIds.length; i += 5000) {
          await trx('installations').insert(
            deviceIds.slice(i, i + 5000).map((deviceId: string, k: number) => ({
              id: installationIdFor(id, i + k),
              rollout_id: id,
              device_id: deviceId,
              seq: i + k,
            })),
          );
        }
      });
      const input: RolloutInput = {
        rolloutId: id,
        softwareId: req.softwareId,
        total: deviceIds.length,
        options: { ...req.options, maxPushAttempts: o.maxPushAttempts ?? 1 },
        timeouts: {
          bootstrapMs: o.timeouts.bootstrapMs,
          dmInstallMs: o.timeouts.dmInstallMs,
          ticketLifetimeMs: o.timeouts.ticketLifetimeMs,
          verificationMs: o.timeouts.verificationMs,
        },
        schedule,
        notify: req.notify ?? [],
        failureThreshold: o.failureThreshold ?? 0,
        ...(o.tuning ? { tuning: o.tuning } : {}),
      };
      await o.client.workflow.start('rolloutWorkflow', {
        taskQueue: o.taskQueue,
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: RolloutId, value: id },
          { key: RolloutState, value: 'scheduled' },
        ],
      });
      return { id, workflowId };
    },
    async view(id) {
      const r = await db('rollouts').where({ id }).first('state', 'total');
      const rows = await db('installations')
        .where({ rollout_id: id })
        .groupBy('status')
        .select('status', db.raw('count(*)::int as n'));
      const counts: Record<string, number> = {};
      for (const row of rows as { status: string | null; n: number }[]) counts[row.status ?? 'Not started'] = row.n;
      return { state: r?.state, counts, total: Number(r?.total ?? 0), final: finalCount(counts) };
    },
    async jobs(id): Promise<JobView[]> {
      const rows = await db('installations')
        .where({ rollout_id: id })
        .orderBy('seq')
        .select('id', 'device_id', 'status', 'final');
      return rows.map((r: any) => ({ id: r.id, deviceId: r.device_id, status: r.status, final: !!r.final }));
    },
  };
}
