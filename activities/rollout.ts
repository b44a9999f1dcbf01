/**
 * Activities of the rollout workflow: paging the rollout's installations by seq, marking them
 * planned/started/cancelled (batched, idempotent: a retry writes the same values), the rollout's
 * state, and slot planning (a LOCAL activity: pure computation whose result is recorded in history).
 */
import { ApplicationFailure } from '@temporalio/common';
import { calendarDay, InvalidScheduleError, localTimeToInstant, planSlots, type Schedule, type Slot } from '../domain/schedule';
import { STATUS } from '../domain/status';
import type { RolloutState } from '../workflows/messages';
import type { ActivityDeps } from './deps';

export interface PlanRequest {
  schedule: Schedule;
  now: number;
  count: number;
  /** Starts per calendar day (schedule tz) made so far; today's entry is the `startedOnDay` of S7. */
  startsByDay: Record<string, number>;
}

export interface PlanResult {
  /** The calendar day containing `now` in the schedule's time zone. */
  today: string;
  slots: Slot[];
  /** For each date in `slots`: the first instant of the next calendar day (the day's end, exclusive). */
  dayEnds: Record<string, number>;
}

/** Pure: the slot plan of the next `count` starts (local activity; see workflows/rollout.ts). */
export function planRolloutSlots(req: PlanRequest): PlanResult {
  try {
    const today = calendarDay(req.now, req.schedule.timeZone);
    const slots = planSlots(req.schedule, { now: req.now, count: req.count, startedOnDay: req.startsByDay[today] ?? 0 });
    const dayEnds: Record<string, number> = {};
    for (const s of slots) {
      if (dayEnds[s.date] === undefined) dayEnds[s.date] = localTimeToInstant(s.date, '24:00', req.schedule.timeZone);
    }
    return { today, slots, dayEnds };
  } catch (err) {
    if (err instanceof InvalidScheduleError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidScheduleError');
    throw err;
  }
}

export function createRolloutActivities({ db }: Pick<ActivityDeps, 'db'>) {
  return {
    async planRolloutSlots(req: PlanRequest): Promise<PlanResult> {
      return planRolloutSlots(req);
    },

    /** The installations with seq ≥ fromSeq, in seq order. */
    async rolloutPage(input: {
      rolloutId: string;
      fromSeq: number;
      limit: number;
    }): Promise<{ id: string; seq: number; deviceId: string }[]> {
      const rows = await db('installations')
        .where({ rollout_id: input.rolloutId })
        .andWhere('seq', '>=', input.fromSeq)
        .orderBy('seq')
        .limit(input.limit)
        .select('id', 'seq', 'device_id');
      return rows.map((r) => ({ id: r.id, seq: r.seq, deviceId: r.device_id }));
    },

    /** planned_at of a batch (one statement). Rewritten on every replan. */
    async markInstallationsPlanned(input: { rolloutId: string; items: { id: string; plannedAt: number }[] }): Promise<void> {
      if (input.items.length === 0) return;
      const json = JSON.stringify(input.items.map((i) => ({ id: i.id, planned_at: new Date(i.plannedAt).toISOString() })));
      await db.raw(
        `UPDATE installations i SET planned_at = v.planned_at, updated_at = now()
           FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, planned_at timestamptz)
          WHERE i.id = v.id AND i.rollout_id = ? AND i.started_at IS NULL`,
        [json, input.rolloutId],
      );
    },

    /** started_at, workflow id and a log entry of a batch of started installs (one transaction). */
    async markInstallationsStarted(input: {
      rolloutId: string;
      items: { id: string; workflowId: string; plannedAt: number; startedAt: number }[];
    }): Promise<void> {
      if (input.items.length === 0) return;
      const json = JSON.stringify(
        input.items.map((i) => ({
          id: i.id,
          workflow_id: i.workflowId,
          planned_at: new Date(i.plannedAt).toISOString(),
          started_at: new Date(i.startedAt).toISOString(),
          message: `install started by the rollout (planned ${new Date(i.plannedAt).toISOString()})`,
        })),
      );
      await db.transaction(async (trx) => {
        await trx.raw(
          `UPDATE installations i
              SET started_at = COALESCE(i.started_at, v.started_at),
                  planned_at = v.planned_at,
                  workflow_id = COALESCE(i.workflow_id, v.workflow_id),
                  updated_at = now()
             FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, workflow_id text, planned_at timestamptz, started_at timestamptz)
            WHERE i.id = v.id AND i.rollout_id = ?`,
          [json, input.rolloutId],
        );
        await trx.raw(
          `INSERT INTO installation_log (installation_id, at, event, message, entry_key)
           SELECT v.id, v.started_at, 'info', v.message, 'rollout-start'
             FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, started_at timestamptz, message text)
             JOIN installations i ON i.id = v.id AND i.rollout_id = ?
           ON CONFLICT (installation_id, entry_key) DO NOTHING`,
          [json, input.rolloutId],
        );
      });
    },

    /**
     * Cancel (issue 4): every installation from `fromSeq` on that was never started becomes
     * `Cancelled` (final), with a log entry. One statement each, whatever the size.
     */
    async cancelNotStartedInstallations(input: {
      rolloutId: string;
      fromSeq: number;
      reason?: string;
    }): Promise<{ count: number }> {
      const message = `rollout cancelled before this install started${input.reason ? `: ${input.reason}` : ''}`;
      return db.transaction(async (trx) => {
        const r = await trx.raw(
          `WITH c AS (
             UPDATE installations
                SET status = ?, final = true, ended_at = COALESCE(ended_at, now()), detail = ?, updated_at = now()
              WHERE rollout_id = ? AND seq >= ? AND started_at IS NULL AND NOT final
             RETURNING id)
           INSERT INTO installation_log (installation_id, event, from_status, to_status, message, entry_key)
           SELECT id, 'status', NULL, ?, ?, 'rollout-cancel' FROM c
           ON CONFLICT (installation_id, entry_key) DO NOTHING`,
          [STATUS.cancelled, message, input.rolloutId, input.fromSeq, STATUS.cancelled, message],
        );
        return { count: r.rowCount ?? 0 };
      });
    },

    /** rollouts.state (and completed_at when the rollout is over). */
    async setRolloutState(input: { rolloutId: string; state: RolloutState; completed: boolean }): Promise<void> {
      await db('rollouts')
        .where({ id: input.rolloutId })
        .update({
          state: input.state,
          ...(input.completed ? { completed_at: db.raw('COALESCE(completed_at, now())') } : {}),
        });
    },

    /** Status of some installations of the rollout (children that already existed). */
    async installationStatuses(input: {
      rolloutId: string;
      ids: string[];
    }): Promise<{ id: string; status: string | null; final: boolean }[]> {
      if (input.ids.length === 0) return [];
      return db('installations').where({ rollout_id: input.rolloutId }).whereIn('id', input.ids).select('id', 'status', 'final');
    },

    /** Jobs per status from Postgres (the source of truth; never-started jobs are not counted). */
    async rolloutCounts(input: { rolloutId: string }): Promise<Record<string, number>> {
      const rows = await db('installations')
        .where({ rollout_id: input.rolloutId })
        .whereNotNull('status')
        .groupBy('status')
        .select('status', db.raw('count(*)::int as n'));
      return Object.fromEntries(rows.map((r: { status: string; n: number }) => [r.status, r.n]));
    },
  };
}
