/**
 * Continue-as-new (S8): after `startsPerRun` starts, when the server suggests it, or when the run's
 * history passes `maxHistoryEvents` — always between batches, after `allHandlersFinished`. The new run
 * gets the bookkeeping (`RolloutCarry`: cursor, counts, per-day starts, the finished bitmap, the cancel
 * request), never the device list.
 */
import { allHandlersFinished, condition, log, makeContinueAsNewFunc, workflowInfo } from '@temporalio/workflow';
import { RolloutGroup as RolloutGroupKey, RolloutId, RolloutState as RolloutStateKey } from '../../domain/search-attributes';
import type { RolloutCarry, RolloutInput, RolloutOutcome } from '../messages';
import type { RolloutScheduler } from './scheduler';

/** The bookkeeping of a rollout's first run. */
export function firstRunCarry(): RolloutCarry {
  return {
    state: 'scheduled',
    cursor: 0,
    counts: {},
    startsByDay: {},
    finished: { base: 0, hex: '' },
    cancelledBeforeStart: 0,
    lastStartAt: null,
    cancel: null,
    alertSent: false,
    persistedState: 'scheduled',
    runs: 0,
  };
}

type RolloutWorkflow = (input: RolloutInput) => Promise<RolloutOutcome>;

/** Hands the rollout over to a new run: the started marks written, the handlers finished. */
export async function continueAsNew(r: RolloutScheduler): Promise<never> {
  r.continuing = true;
  await r.flushStarted();
  await condition(allHandlersFinished);
  const next: RolloutCarry = {
    state: r.state,
    cursor: r.cursor,
    counts: r.counts,
    startsByDay: r.startsByDay,
    finished: r.finished.encode(),
    cancelledBeforeStart: r.cancelledBeforeStart,
    lastStartAt: r.lastStartAt,
    cancel: r.cancelRequest,
    // an alert still being sent (in the background) is sent again by the next run
    alertSent: r.alertSent && r.alertPending === null,
    persistedState: r.persistedState,
    runs: r.runs,
    ...(r.patches.carryReplanFromNow && r.replanFromNowPending() ? { replanFromNow: true } : {}),
    ...(r.patches.groups
      ? {
          pausedReason: r.pausedReason,
          persistedPausedReason: r.persistedPausedReason,
          persistedGroup: r.persistedGroup,
          halts: r.halts,
          // an alert still being sent is sent again by the next run (its mail key makes it one mail)
          haltAlert: r.haltAlert,
          ...(r.gate ? { groups: r.gate.encode() } : {}),
        }
      : {}),
  };
  log.info('rollout continues as new', { cursor: r.cursor, finished: r.finishedCount(), history: workflowInfo().historyLength });
  return makeContinueAsNewFunc<RolloutWorkflow>({
    typedSearchAttributes: [
      { key: RolloutId, value: r.rolloutId },
      { key: RolloutStateKey, value: r.persistedState },
      ...(r.persistedGroup !== null ? [{ key: RolloutGroupKey, value: r.persistedGroup }] : []),
    ],
  })({ ...r.input, schedule: r.schedule, carry: next });
}
