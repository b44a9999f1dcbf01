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
import { CancellationScope, condition, log, patched, setHandler } from '@temporalio/workflow';
import {
  approveGroupUpdate,
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
import { awaitCancelledChildren, cancelGraceLeft, cancelSettled, cancelStep, cancelStepsLeft } from './rollout/cancel';
import { continueAsNew, firstRunCarry } from './rollout/carry';
import { assertOpen, validateApproveGroup, validatePause, validateResume, validateScheduleChange } from './rollout/control';
import { RolloutScheduler } from './rollout/scheduler';

/**
 * Since this patch a resume or schedule change answers once the new planned times are in PostgreSQL
 * (before, it answered when the plan was made in memory and a read right after could see the old
 * times), and a request arriving while a plan is being made is planned again, not dropped.
 */
export const PLANNED_TIMES_PATCH = 'rollout-update-waits-for-planned-times';

/** Since this patch each day's starts are spread over its whole window (S5: window ÷ n, n = min(quota left, devices left)). */
export const SPREAD_PATCH = 'rollout-spread-over-window';
/** Since this patch a late slot is started only before the end of its window, not of its calendar day (S4). */
export const INSIDE_WINDOW_PATCH = 'rollout-starts-inside-window';

/** Since this patch the failure alert is sent in the background: mail never delays a start or a control request. */
export const ALERT_PATCH = 'rollout-alert-in-background';

/**
 * Since this patch a plan-from-now asked for by a resume or schedule change and not made yet goes to
 * the next run with continue-as-new (before, the next run continued the old spacing from the last start).
 */
export const CARRY_REPLAN_PATCH = 'rollout-carry-replan-from-now';
/**
 * Since this patch the rollout watches the result of each child it starts: one that closes without a
 * final status (terminated, timed out, failed) is failed in Postgres with the reason, and counted. And
 * once every job is started, the outstanding ones are reconciled every `reconcileEveryMs` — doubling
 * up to an hour while nothing is found — by their final status in Postgres or their workflow's description: a child of an earlier run, or one whose
 * `installFinished` never came, cannot keep the rollout open.
 */
export const WATCH_CHILDREN_PATCH = 'rollout-watches-children';
/**
 * Since this patch the rollout's cancel neither cancels nor waits for the jobs whose software is on the
 * device (`Installed/Downloaded – Waiting for verification`): they end by verification or timeout, their
 * installs outliving the closed rollout (ParentClosePolicy ABANDON).
 */
export const CANCEL_SKIPS_ARRIVED_PATCH = 'rollout-cancel-skips-arrived';
/**
 * Since this patch cancelling the rollout workflow itself (Temporal UI, `temporal workflow cancel`)
 * is a cancel request like the API's Update: the same cleanup (never-started jobs Cancelled, the
 * outstanding children of every run cancelled, state and summary), not an abrupt stop.
 */
export const WORKFLOW_CANCEL_PATCH = 'rollout-workflow-cancel-is-cancel-request';
/**
 * Since this patch (issue 14) a rollout may be staged in groups: a group starts once the one before it
 * reached the success threshold (and, with manual approval, was approved: Update `approveGroup`); a
 * group whose failures reach the error threshold pauses the rollout itself (`pausedReason:
 * "error-threshold"`) and sends the alert. The pause reason is written with the state, the
 * RolloutGroup search attribute and the current details follow the rollout. Without groups the
 * rollout runs as before.
 */
export const GROUPS_PATCH = 'rollout-groups-and-safety';

const ROLLOUT_TUNING_DEFAULTS: Required<RolloutTuning> = {
  pageSize: 500,
  startBatchSize: 100,
  startsPerRun: 1000,
  maxHistoryEvents: 6000,
  lateToleranceMs: 10 * 60_000,
  windowGraceMs: 30_000,
  cancelGraceMs: 60 * 60_000,
  reconcileEveryMs: 10 * 60_000,
};

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutOutcome> {
  const tuning: Required<RolloutTuning> = { ...ROLLOUT_TUNING_DEFAULTS, ...input.tuning };
  // Patches are decided once, at the start of a run: a run replayed from before a patch keeps its old
  // behaviour to its end; the run after its continue-as-new takes the new one.
  const r = new RolloutScheduler(input, tuning, input.carry ?? firstRunCarry(), {
    plannedTimesWritten: patched(PLANNED_TIMES_PATCH),
    spreadOverWindow: patched(SPREAD_PATCH),
    startsInsideWindow: patched(INSIDE_WINDOW_PATCH),
    alertInBackground: patched(ALERT_PATCH),
    carryReplanFromNow: patched(CARRY_REPLAN_PATCH),
    watchChildren: patched(WATCH_CHILDREN_PATCH),
    cancelSkipsArrived: patched(CANCEL_SKIPS_ARRIVED_PATCH),
    groups: patched(GROUPS_PATCH),
  });

  setHandler(installFinishedSignal, (result) => r.installFinished(result));
  setHandler(rolloutProgressQuery, () => r.progress());
  setHandler(pauseRolloutUpdate, () => r.pause(), { validator: () => validatePause(r) });
  setHandler(resumeRolloutUpdate, () => r.resume(), { validator: () => validateResume(r) });
  setHandler(cancelRolloutUpdate, (req) => r.cancel(req), { validator: (_req) => assertOpen(r) });
  setHandler(changeScheduleUpdate, (next) => r.changeSchedule(next), { validator: (next) => validateScheduleChange(r, next) });
  setHandler(approveGroupUpdate, (req) => r.approveGroup(req), { validator: (req) => validateApproveGroup(r, req) });

  if (patched(WORKFLOW_CANCEL_PATCH)) {
    // The loop never sees the workflow's cancellation (no activity, timer or child start is torn down
    // half-way); the request becomes the rollout's own cancel, which the loop carries out.
    CancellationScope.current().cancelRequested.catch(() => {
      if (r.cancelRequest || r.state === 'completed') return;
      log.info('rollout workflow cancelled: cancelling the rollout as the cancel Update does');
      r.cancel({ reason: 'rollout workflow cancelled in Temporal' });
    });
    return CancellationScope.nonCancellable(() => run(r));
  }
  return run(r);
}

async function run(r: RolloutScheduler): Promise<RolloutOutcome> {
  for (;;) {
    await r.syncState();
    if (r.lostPending()) await r.recordLost();
    if (r.alertDue()) await r.alert();
    if (r.haltAlertDue()) r.sendHaltAlert();
    if (r.allFinal()) break;
    if (r.shouldContinueAsNew()) await continueAsNew(r);

    if (r.cancelRequest) {
      if (cancelStepsLeft(r)) {
        await cancelStep(r);
        continue;
      }
      // Every cancel request is out: wait for the children to report, at most the grace period.
      const left = cancelGraceLeft(r);
      if (left <= 0 || cancelSettled(r)) break;
      await awaitCancelledChildren(r, left);
      continue;
    }

    if (r.idle()) {
      await r.flushStarted();
      const woken = r.wokenUp();
      if (r.reconciling()) {
        const changed = await condition(() => woken() || r.allFinal(), r.reconcileWaitMs || r.tuning.reconcileEveryMs);
        if (!changed) await r.reconcile();
      } else {
        await condition(() => woken() || r.allFinal());
      }
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
