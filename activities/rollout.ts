/**
 * Activities of the rollout workflow: paging the rollout's installations by seq, marking them
 * planned/started/cancelled (batched, idempotent: a retry writes the same values; the statements are
 * services/installations/jobs.ts), the rollout's state, and slot planning (a LOCAL activity: pure
 * computation whose result is recorded in history).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { RolloutState } from '../domain/rollout-state';
import { calendarDay, InvalidScheduleError, localTimeToInstant, planSlots, type Schedule, type Slot } from '../domain/schedule';
import {
  cancelJobsNotStarted,
  jobStatuses,
  markJobsPlanned,
  markJobsStarted,
  rolloutJobsPage,
  rolloutStatusCounts,
} from '../services/installations/jobs';
import type { ActivityDeps } from './deps';

export interface PlanRequest {
  schedule: Schedule;
  now: number;
  count: number;
  /** Starts per calendar day (schedule tz) made so far; today's entry is the `startedOnDay` of S7. */
  startsByDay: Record<string, number>;
  /** Devices of the rollout not started yet (S5's "devices left"; default `count`). */
  devicesLeft?: number;
  /** The rollout's last start, when the plan continues the day under way (see `PlanOptions`). */
  lastStartAt?: number;
  /** Absent (rollouts started before S5 changed): `quota` spacing. */
  spacing?: 'spread' | 'quota';
}

export interface PlanResult {
  /** The calendar day containing `now` in the schedule's time zone. */
  today: string;
  slots: Slot[];
  /** For each date in `slots`: the first instant of the next calendar day (the day's end, exclusive). */
  dayEnds: Record<string, number>;
  /** For each date in `slots`: the end of that day's window (exclusive): no start at or after it (S4). */
  windowEnds?: Record<string, number>;
}

/** Pure: the slot plan of the next `count` starts (local activity; see workflows/rollout/scheduler.ts). */
export function planRolloutSlots(req: PlanRequest): PlanResult {
  try {
    const today = calendarDay(req.now, req.schedule.timeZone);
    const slots = planSlots(req.schedule, {
      now: req.now,
      count: req.count,
      startedOnDay: req.startsByDay[today] ?? 0,
      devicesLeft: req.devicesLeft,
      lastStartAt: req.lastStartAt ?? undefined,
      spacing: req.spacing ?? 'quota',
    });
    const dayEnds: Record<string, number> = {};
    const windowEnds: Record<string, number> = {};
    const { timeZone, window } = req.schedule;
    for (const s of slots) {
      if (dayEnds[s.date] !== undefined) continue;
      dayEnds[s.date] = localTimeToInstant(s.date, '24:00', timeZone);
      windowEnds[s.date] = localTimeToInstant(s.date, window.end, timeZone);
    }
    return { today, slots, dayEnds, windowEnds };
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
      return rolloutJobsPage(db, input);
    },

    /** planned_at of a batch (one statement). Rewritten on every replan. */
    async markInstallationsPlanned(input: { rolloutId: string; items: { id: string; plannedAt: number }[] }): Promise<void> {
      await markJobsPlanned(db, input.rolloutId, input.items);
    },

    /** started_at, workflow id and a log entry of a batch of started installs (one transaction). */
    async markInstallationsStarted(input: {
      rolloutId: string;
      items: { id: string; workflowId: string; plannedAt: number; startedAt: number }[];
    }): Promise<void> {
      await markJobsStarted(db, input.rolloutId, input.items);
    },

    /**
     * Cancel: every installation from `fromSeq` on that was never started becomes
     * `Cancelled` (final), with a log entry. One statement each, whatever the size.
     */
    async cancelNotStartedInstallations(input: {
      rolloutId: string;
      fromSeq: number;
      reason?: string;
    }): Promise<{ count: number }> {
      return cancelJobsNotStarted(db, input);
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
      return jobStatuses(db, input.rolloutId, input.ids);
    },

    /** Jobs per status from Postgres (the source of truth; never-started jobs are not counted). */
    async rolloutCounts(input: { rolloutId: string }): Promise<Record<string, number>> {
      return rolloutStatusCounts(db, input.rolloutId);
    },
  };
}
