/**
 * Activities of the rollout workflow: paging the rollout's installations by seq, marking them
 * planned/started/cancelled (batched, idempotent: a retry writes the same values; the statements are
 * services/installations/jobs.ts), the rollout's state, and slot planning (a LOCAL activity: pure
 * computation whose result is recorded in history).
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { RolloutState } from '../domain/rollout-state';
import { calendarDay, InvalidScheduleError, localTimeToInstant, planSlots, type Schedule, type Slot } from '../domain/schedule';
import { type InstallStatus, STATUS } from '../domain/status';
import { jobState } from '../services/installations/device-jobs';
import {
  cancelJobsNotStarted,
  installWorkflowIdOf,
  jobStatuses,
  markJobsPlanned,
  markJobsStarted,
  rolloutJobsPage,
  rolloutStatusCounts,
} from '../services/installations/jobs';
import { recordTransition } from '../services/installations/log';
import type { ActivityDeps } from './deps';

/**
 * The transition counter of the rollout's own "Installation failed" entry for a job whose install
 * workflow ended without a final status: far above any install workflow's own counter, so its log key
 * never meets one of theirs, and a retry writes nothing twice.
 */
const LOST_INSTALL_SEQ = 1_000_000;

/** "install workflow terminated: <reason>" when the workflow was terminated (else undefined). */
async function terminationReason(handle: {
  fetchHistory(): Promise<{
    events?:
      | { workflowExecutionTerminatedEventAttributes?: { reason?: string | null; identity?: string | null } | null }[]
      | null;
  }>;
}): Promise<string | undefined> {
  const events = (await handle.fetchHistory()).events ?? [];
  const t = events.at(-1)?.workflowExecutionTerminatedEventAttributes;
  if (!t) return undefined;
  return `install workflow terminated${t.reason ? `: ${t.reason}` : ''}`;
}

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
  /** `Installation failed` with the reason in the log (once: the log key is fixed). */
  const failJob = (id: string, from: string | null, reason: string) =>
    recordTransition(db, {
      installationId: id,
      seq: LOST_INSTALL_SEQ,
      status: { from: from as InstallStatus | null, to: STATUS.installationFailed, final: true, message: reason },
      detail: reason,
    });
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
     * Reconciliation of jobs the rollout has no final result for: a job final in Postgres gives its
     * status; one whose install workflow is closed (terminated, timed out, failed, gone) without a final
     * status becomes `Installation failed` with the reason; one still running is left out.
     */
    async reconcileInstallations(input: { rolloutId: string; ids: string[] }): Promise<{ id: string; status: InstallStatus }[]> {
      const out: { id: string; status: InstallStatus }[] = [];
      const client = Context.current().client;
      for (const id of input.ids) {
        const job = await db('installations').where({ id }).first('status', 'final', 'workflow_id', 'rollout_id', 'device_id');
        if (!job) continue;
        if (job.final && job.status) {
          out.push({ id, status: job.status as InstallStatus });
          continue;
        }
        let reason: string | undefined;
        try {
          const handle = client.workflow.getHandle(installWorkflowIdOf(job));
          const d = await handle.describe();
          if (d.status.name !== 'RUNNING') {
            reason =
              (await terminationReason(handle)) ??
              `install workflow ${d.status.name.toLowerCase().replace(/_/g, ' ')} without a final status`;
          }
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          reason = 'install workflow not found (never started, or removed by retention)';
        }
        if (!reason) continue;
        await failJob(id, job.status, reason);
        out.push({ id, status: STATUS.installationFailed });
      }
      return out;
    },

    /**
     * Jobs whose install workflow ended without a final status (terminated in the Temporal UI, timed
     * out, failed): each becomes `Installation failed` with the reason in its log — unless it is final
     * already (then its status is returned as it is). Idempotent.
     */
    async failLostInstallations(input: {
      rolloutId: string;
      items: { id: string; reason: string; workflowId?: string }[];
    }): Promise<{ id: string; status: InstallStatus }[]> {
      const out: { id: string; status: InstallStatus }[] = [];
      const client = Context.current().client;
      for (const it of input.items) {
        const job = await jobState(db, it.id);
        if (!job) continue;
        if (job.final && job.status) {
          out.push({ id: it.id, status: job.status as InstallStatus });
          continue;
        }
        // a termination's reason is in the install's own history (the parent's event has none)
        const why = it.workflowId
          ? await terminationReason(client.workflow.getHandle(it.workflowId)).catch(() => undefined)
          : undefined;
        await failJob(it.id, job.status, why ?? it.reason);
        out.push({ id: it.id, status: STATUS.installationFailed });
      }
      return out;
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

    /**
     * rollouts.state (and completed_at when the rollout is over); `pausedReason` (issue 14: `admin`,
     * `error-threshold`, null) when the workflow gives it.
     */
    async setRolloutState(input: {
      rolloutId: string;
      state: RolloutState;
      completed: boolean;
      pausedReason?: 'admin' | 'error-threshold' | null;
    }): Promise<void> {
      await db('rollouts')
        .where({ id: input.rolloutId })
        .update({
          state: input.state,
          ...(input.pausedReason !== undefined ? { paused_reason: input.pausedReason } : {}),
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
