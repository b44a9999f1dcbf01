/**
 * The rollout workflow (issue 4; SPEC S1–S9, P1, P3): paces the install workflows of one rollout by
 * its schedule — a daily quota spread evenly over the window of each selected weekday.
 *
 * This function wires the messages to the rollout's state and rules (rollout/scheduler.ts) and runs
 * the main loop: sleep (durable timer) until the next slot, start the due installs
 * (rollout/children.ts), replan when needed, cancel (rollout/cancel.ts), continue as new
 * (rollout/carry.ts). When every job is final: the summary email (P1, P3); an early alert once when
 * failures reach `failureThreshold`. The RolloutState search attribute and rollouts.state/completed_at
 * follow every state change. Control is by Updates, validated (a bad request is rejected with a reason
 * and the workflow carries on): pause, resume, cancel, changeSchedule; query `progress`.
 */
import { condition, patched, setHandler } from '@temporalio/workflow';
import {
  cancelRolloutUpdate,
  changeScheduleUpdate,
  installFinishedSignal,
  pauseRolloutUpdate,
  type RolloutInput,
  type RolloutOutcome,
  type RolloutTuning,
  resumeRolloutUpdate,
  rolloutProgressQuery,
} from './messages';
import { awaitCancelledChildren, cancelGraceLeft, cancelStep, cancelStepsLeft } from './rollout/cancel';
import { continueAsNew, firstRunCarry } from './rollout/carry';
import { assertOpen, validatePause, validateResume, validateScheduleChange } from './rollout/control';
import { RolloutScheduler } from './rollout/scheduler';

/**
 * Since this patch a resume or schedule change answers once the new planned times are in PostgreSQL
 * (before, it answered when the plan was made in memory and a read right after could see the old
 * times), and a request arriving while a plan is being made is planned again, not dropped.
 */
export const PLANNED_TIMES_PATCH = 'rollout-update-waits-for-planned-times';

const ROLLOUT_TUNING_DEFAULTS: Required<RolloutTuning> = {
  pageSize: 500,
  startBatchSize: 100,
  startsPerRun: 1000,
  maxHistoryEvents: 6000,
  lateToleranceMs: 10 * 60_000,
  cancelGraceMs: 60 * 60_000,
};

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutOutcome> {
  const tuning: Required<RolloutTuning> = { ...ROLLOUT_TUNING_DEFAULTS, ...input.tuning };
  const r = new RolloutScheduler(input, tuning, input.carry ?? firstRunCarry(), patched(PLANNED_TIMES_PATCH));

  setHandler(installFinishedSignal, (result) => r.installFinished(result));
  setHandler(rolloutProgressQuery, () => r.progress());
  setHandler(pauseRolloutUpdate, () => r.pause(), { validator: () => validatePause(r) });
  setHandler(resumeRolloutUpdate, () => r.resume(), { validator: () => validateResume(r) });
  setHandler(cancelRolloutUpdate, (req) => r.cancel(req), { validator: (_req) => assertOpen(r) });
  setHandler(changeScheduleUpdate, (next) => r.changeSchedule(next), { validator: (next) => validateScheduleChange(r, next) });

  for (;;) {
    await r.syncState();
    if (r.alertDue()) await r.sendFailureAlert();
    if (r.allFinal()) break;
    if (r.shouldContinueAsNew()) await continueAsNew(r);

    if (r.cancelRequest) {
      if (cancelStepsLeft(r)) {
        await cancelStep(r);
        continue;
      }
      // Every cancel request is out: wait for the children to report, at most the grace period.
      const left = cancelGraceLeft(r);
      if (left <= 0) break;
      await awaitCancelledChildren(r, left);
      continue;
    }

    if (r.idle()) {
      await r.flushStarted();
      const woken = r.wokenUp();
      await condition(() => woken() || r.allFinal());
      continue;
    }

    if (r.needsPlan()) {
      await r.replan();
      continue;
    }
    const next = r.nextSlot();
    if (!next) {
      r.planUsedUp();
      continue;
    }
    const now = Date.now();
    if (next.at > now) {
      // Before a long wait, write the started marks; with dense slots keep batching them.
      if (next.at - now > 60_000 || r.manyUnmarked()) await r.flushStarted();
      const woken = r.wokenUp();
      const waitMs = next.at - Date.now();
      if (waitMs > 0) await condition(woken, waitMs);
      continue;
    }
    await r.startDue(now);
    if (r.manyUnmarked()) await r.flushStarted();
  }

  // Every job is final (or the cancel grace is over).
  return r.close();
}
