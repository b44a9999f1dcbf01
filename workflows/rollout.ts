/**
 * The rollout workflow (issue 4; SPEC S1–S9, P1, P3): paces the install workflows of one rollout by
 * its schedule — a daily quota spread evenly over the window of each selected weekday.
 *
 * How it works
 * - The device list is in Postgres (installations, seq 0 … total − 1); the workflow pages it by seq
 *   through an activity and never carries it in its input or history.
 * - Slot instants come from a LOCAL activity calling `planSlots` (domain/schedule.ts), so the time-zone
 *   arithmetic is recorded in history and replay never depends on a worker's tz data. The plan is
 *   made per page and again after pause/resume, a schedule change, a late timer and continue-as-new,
 *   always with `startedOnDay` from the per-calendar-day start counter (`startsByDay`, S7): whatever
 *   happens, no calendar day of the rollout's time zone gets more starts than its quota. A due slot is
 *   started only before the end of its own calendar day (the plan carries each day's end instant).
 * - The workflow sleeps (durable timer, `condition(…, timeout)`) until the next slot; starts that fall
 *   due together (unlimited or high quotas) are started concurrently in groups of `startBatchSize`.
 * - Children: `installWorkflow` with id `installWorkflowId(rollout, device)`, ParentClosePolicy ABANDON,
 *   search attributes RolloutId/DeviceId. A child that already exists (WorkflowExecutionAlreadyStarted,
 *   e.g. after a reset) counts as started — no second install. Each child signals `installFinished`
 *   when final.
 * - Finished bookkeeping (dedupe of duplicate signals, "every job final", which children to cancel) is
 *   a bitmap over seq (`SeqSet`): installation ids encode their seq (`installationIdFor`), so a signal
 *   maps to its seq without a lookup. The bitmap is bounded by the number of jobs (total/4 hex
 *   characters at worst, usually tiny: the fully finished prefix is compacted away) and is carried
 *   across continue-as-new with the cursor, the counts and the per-day counters. A signal whose id is
 *   not one of this rollout's, or whose seq was never started, is ignored (logged). Postgres remains
 *   the source of truth for reports: the completion summary reads counts and lists from it.
 * - Continue-as-new after `startsPerRun` starts, when the server suggests it, or when the run's history
 *   passes `maxHistoryEvents` — always between batches, after `allHandlersFinished`.
 * - Control by Updates (validated: a bad request is rejected with a reason, the workflow carries on):
 *   pause, resume, cancel, changeSchedule. Query `progress`.
 * - The RolloutState search attribute and rollouts.state/completed_at follow every state change.
 * - When every job is final: summary email (P1, P3) to the notify addresses; an early alert once
 *   when failures reach `failureThreshold`.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  getExternalWorkflowHandle,
  log,
  makeContinueAsNewFunc,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type Schedule, validateSchedule } from '../domain/schedule';
import { DeviceId, RolloutId, RolloutState as RolloutStateKey } from '../domain/search-attributes';
import { FAILURE_STATUSES, type InstallStatus, isFinal, STATUS } from '../domain/status';
import {
  cancelRolloutUpdate,
  changeScheduleUpdate,
  type InstallInput,
  type InstallResult,
  installationSeq,
  installFinishedSignal,
  installWorkflowId,
  pauseRolloutUpdate,
  ROLLOUT_REJECTION,
  type RolloutCarry,
  type RolloutInput,
  type RolloutOutcome,
  type RolloutProgress,
  type RolloutState,
  type RolloutTuning,
  resumeRolloutUpdate,
  rolloutProgressQuery,
  rolloutWorkflowId,
} from './messages';

/**
 * Since this patch a resume or schedule change answers once the new planned times are in PostgreSQL
 * (before, it answered when the plan was made in memory and a read right after could see the old
 * times), and a request arriving while a plan is being made is planned again, not dropped.
 */
export const PLANNED_TIMES_PATCH = 'rollout-update-waits-for-planned-times';

export const ROLLOUT_TUNING_DEFAULTS: Required<RolloutTuning> = {
  pageSize: 500,
  startBatchSize: 100,
  startsPerRun: 1000,
  maxHistoryEvents: 6000,
  lateToleranceMs: 10 * 60_000,
  cancelGraceMs: 60 * 60_000,
};

/** Postgres bookkeeping: retried until it works (the database may be down for a while). */
const db = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Mail: bounded retries; a mail that cannot be sent is logged and does not keep the rollout open. */
const mail = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12 },
});

/** Slot planning: pure computation, recorded in history as a marker. */
const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidScheduleError'] },
});

/**
 * A set of seqs as a bitmap above `base` (every seq below `base` is in the set). Carried across
 * continue-as-new as hex; leading full bytes are compacted into `base`.
 */
export class SeqSet {
  private bits: Uint8Array;
  private count = 0;

  private constructor(
    private base: number,
    bits: Uint8Array,
  ) {
    this.bits = bits;
    for (const b of bits) this.count += popcount(b);
  }

  static empty(): SeqSet {
    return new SeqSet(0, new Uint8Array(0));
  }

  static decode(e: { base: number; hex: string }): SeqSet {
    const bits = new Uint8Array(e.hex.length / 2);
    for (let i = 0; i < bits.length; i++) bits[i] = Number.parseInt(e.hex.slice(2 * i, 2 * i + 2), 16);
    return new SeqSet(e.base, bits);
  }

  encode(): { base: number; hex: string } {
    let hex = '';
    for (const b of this.bits) hex += b.toString(16).padStart(2, '0');
    return { base: this.base, hex };
  }

  /** Everything below this is in the set. */
  get low(): number {
    return this.base;
  }

  /** Members at or above `low` (those below are counted by the caller). */
  get sizeAboveLow(): number {
    return this.count;
  }

  has(seq: number): boolean {
    if (seq < this.base) return true;
    const i = seq - this.base;
    const byte = this.bits[i >> 3];
    return byte !== undefined && (byte & (1 << (i & 7))) !== 0;
  }

  /** Adds `seq`; false when it was already in. */
  add(seq: number): boolean {
    if (this.has(seq)) return false;
    const i = seq - this.base;
    const need = (i >> 3) + 1;
    if (need > this.bits.length) {
      const grown = new Uint8Array(Math.max(need, this.bits.length * 2, 16));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[i >> 3] = (this.bits[i >> 3] as number) | (1 << (i & 7));
    this.count++;
    this.compact();
    return true;
  }

  private compact(): void {
    let full = 0;
    while (full < this.bits.length && this.bits[full] === 0xff) full++;
    if (full === 0) return;
    this.base += full * 8;
    this.count -= full * 8;
    // keep trailing zero bytes out of the carried state
    let end = this.bits.length;
    while (end > full && this.bits[end - 1] === 0) end--;
    this.bits = this.bits.slice(full, end);
  }
}

function popcount(b: number): number {
  let n = 0;
  for (let x = b; x; x &= x - 1) n++;
  return n;
}

interface PageRow {
  id: string;
  seq: number;
  deviceId: string;
}

interface Plan {
  today: string;
  slots: { at: number; date: string }[];
  dayEnds: Record<string, number>;
  /** Index in `slots` of the next slot to use. */
  next: number;
}

const conflictFailure = (message: string) => ApplicationFailure.nonRetryable(message, ROLLOUT_REJECTION.conflict);

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutOutcome> {
  const t: Required<RolloutTuning> = { ...ROLLOUT_TUNING_DEFAULTS, ...input.tuning };
  const { rolloutId, total } = input;
  const carry: RolloutCarry = input.carry ?? {
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

  let schedule: Schedule = input.schedule;
  let state: RolloutState = carry.state;
  let cursor = carry.cursor;
  const counts: Record<string, number> = { ...carry.counts };
  let startsByDay: Record<string, number> = { ...carry.startsByDay };
  const finished = SeqSet.decode(carry.finished);
  let cancelledBeforeStart = carry.cancelledBeforeStart;
  let lastStartAt = carry.lastStartAt;
  let cancel = carry.cancel;
  let alertSent = carry.alertSent;
  let persistedState = carry.persistedState;
  const runs = carry.runs + 1;
  const plannedTimesWritten = patched(PLANNED_TIMES_PATCH);

  /** Seqs [cursor, cursor + inFlight) are being started right now. */
  let inFlight = 0;
  let startsThisRun = 0;
  let page: PageRow[] = [];
  let pageIdx = 0;
  let plan: Plan | undefined;
  let planDirty = true;
  /** Replans asked for by resume / schedule changes, and how many of them have their planned times in Postgres. */
  let replanRequests = 0;
  let replanWritten = 0;
  /**
   * Replan from now (after resume, a schedule change, or a slot that could not be used). Otherwise a
   * replan (next page, continue-as-new) continues after the last start, so the few seconds spent on
   * the page fetch or the hand-over do not make the next slot "missed".
   */
  let replanFromNow = false;
  /** Bumped by every handler that changes what the main loop should do. */
  let wake = 0;
  /** Starts made but not yet written to Postgres (flushed in batches). */
  let unmarked: { id: string; workflowId: string; plannedAt: number; startedAt: number }[] = [];

  const finishedCount = () => finished.low + finished.sizeAboveLow;
  const failures = () => Object.entries(counts).reduce((n, [s, c]) => (FAILURE_STATUSES.has(s as InstallStatus) ? n + c : n), 0);
  const allFinal = () => finishedCount() >= total;
  /** Set when the workflow is about to return. */
  let closed = false;
  const cancelling = () => cancel !== null && !closed && !allFinal();
  const alertDue = () => !alertSent && input.failureThreshold > 0 && failures() >= input.failureThreshold;

  const shouldContinueAsNew = () => {
    const info = workflowInfo();
    return startsThisRun >= t.startsPerRun || info.continueAsNewSuggested || info.historyLength >= t.maxHistoryEvents;
  };

  const nextStartAt = (): string | null => {
    if (state === 'paused' || cancel || cursor >= total || !plan || planDirty) return null;
    const s = plan.slots[plan.next];
    return s ? new Date(s.at).toISOString() : null;
  };

  const progress = (): RolloutProgress => ({
    rolloutId,
    state,
    counts: { ...counts },
    total,
    started: cursor,
    finished: finishedCount(),
    outstanding: cursor - (finishedCount() - cancelledBeforeStart),
    remaining: cancel ? 0 : total - cursor,
    nextStartAt: nextStartAt(),
    startsByDay: { ...startsByDay },
    cancelling: cancelling(),
    schedule,
    runs,
  });

  // -------------------------------------------------------------------------------------------
  // Handlers
  // -------------------------------------------------------------------------------------------

  setHandler(installFinishedSignal, (r: InstallResult) => {
    const seq = installationSeq(rolloutId, r.installationId);
    if (seq === undefined || seq >= cursor + inFlight || seq >= total) {
      log.warn('installFinished for an installation this rollout did not start: ignored', {
        installationId: r.installationId,
        deviceId: r.deviceId,
        status: r.status,
      });
      return;
    }
    if (!isFinal(r.status)) {
      log.warn('installFinished with a non-final status: ignored', { installationId: r.installationId, status: r.status });
      return;
    }
    if (!finished.add(seq)) return; // duplicate
    counts[r.status] = (counts[r.status] ?? 0) + 1;
    // No wake-up here: the waits below watch allFinal()/alertDue() themselves, so a result arriving
    // while the workflow sleeps until the next slot does not cancel and restart that timer.
  });

  setHandler(rolloutProgressQuery, progress);

  const assertOpen = () => {
    if (state === 'completed') throw conflictFailure('the rollout has completed');
    if (cancel || state === 'cancelled') throw conflictFailure('the rollout has been cancelled');
  };

  setHandler(
    pauseRolloutUpdate,
    () => {
      state = 'paused';
      wake++;
      return progress();
    },
    {
      validator: () => {
        assertOpen();
        if (state === 'paused') throw conflictFailure('the rollout is already paused');
        if (cursor >= total) throw conflictFailure('every installation has already been started: nothing left to pause');
      },
    },
  );

  /**
   * Asks the main loop for a new plan from now; resolves once it is made (`nextStartAt`) and, patched,
   * written (the jobs' planned times) — or once nothing is to be planned any more, or the run is handing
   * over to continue-as-new (that waits for the handlers, and the new run replans).
   */
  let continuing = false;
  const replanned = () => {
    planDirty = true;
    replanFromNow = true;
    wake++;
    const request = ++replanRequests;
    const over = () => continuing || state === 'paused' || cancel !== null || cursor >= total;
    return plannedTimesWritten ? condition(() => replanWritten >= request || over()) : condition(() => !planDirty || over());
  };

  setHandler(
    resumeRolloutUpdate,
    async () => {
      state = cursor > 0 ? 'running' : 'scheduled';
      await replanned(); // from now, keeping today's count
      return progress();
    },
    {
      validator: () => {
        assertOpen();
        if (state !== 'paused') throw conflictFailure(`the rollout is not paused (it is ${state})`);
      },
    },
  );

  setHandler(
    cancelRolloutUpdate,
    (req: { reason?: string }) => {
      cancel = { requestedAt: Date.now(), notStartedDone: false, cursor: 0, reason: req?.reason };
      state = 'cancelled';
      wake++;
      return progress();
    },
    { validator: (_req: { reason?: string }) => assertOpen() },
  );

  setHandler(
    changeScheduleUpdate,
    async (next: Schedule) => {
      schedule = next;
      await replanned();
      return progress();
    },
    {
      validator: (next: Schedule) => {
        assertOpen();
        const errors = validateSchedule(next);
        if (errors.length > 0) {
          throw ApplicationFailure.create({
            message: errors.map((e) => `schedule.${e.field}: ${e.message}`).join('; '),
            type: ROLLOUT_REJECTION.invalidSchedule,
            nonRetryable: true,
            details: [{ field: `schedule.${errors[0]?.field}` }],
          });
        }
        if (next.timeZone !== schedule.timeZone) {
          throw ApplicationFailure.create({
            message: `schedule.timeZone: the time zone cannot change during a rollout (it is ${schedule.timeZone}): the daily quota is counted per calendar day of that zone`,
            type: ROLLOUT_REJECTION.invalidSchedule,
            nonRetryable: true,
            details: [{ field: 'schedule.timeZone' }],
          });
        }
      },
    },
  );

  // -------------------------------------------------------------------------------------------
  // Steps
  // -------------------------------------------------------------------------------------------

  const syncState = async () => {
    if (state === persistedState) return;
    upsertSearchAttributes([{ key: RolloutStateKey, value: state }]);
    await db.setRolloutState({ rolloutId, state, completed: false });
    persistedState = state;
  };

  const flushStarted = async () => {
    if (unmarked.length === 0) return;
    const items = unmarked;
    unmarked = [];
    await db.markInstallationsStarted({ rolloutId, items });
  };

  const replan = async () => {
    if (pageIdx >= page.length) {
      page = await db.rolloutPage({ rolloutId, fromSeq: cursor, limit: t.pageSize });
      pageIdx = 0;
      if (page.length === 0) {
        // The rows are gone (rollout deleted underneath us): nothing left to start.
        log.error('no installations left to start although the rollout is not fully started', { cursor, total });
        throw ApplicationFailure.nonRetryable(`rollout ${rolloutId}: installations from seq ${cursor} are missing`);
      }
    }
    const request = replanRequests; // the requests this plan serves: their schedule is read now
    const from =
      replanFromNow || lastStartAt === null
        ? Math.max(Date.now(), lastStartAt === null ? 0 : lastStartAt + 1)
        : Math.max(lastStartAt + 1, Date.now() - t.lateToleranceMs);
    replanFromNow = false;
    const r = await local.planRolloutSlots({ schedule, now: from, count: page.length - pageIdx, startsByDay });
    plan = { ...r, next: 0 };
    // a request that came while planning was made with the schedule before it: plan again
    planDirty = plannedTimesWritten && replanRequests !== request;
    // S7 bookkeeping: only today and later days matter from now on
    startsByDay = Object.fromEntries(Object.entries(startsByDay).filter(([d]) => d >= r.today));
    await db.markInstallationsPlanned({
      rolloutId,
      items: r.slots.map((s, i) => ({ id: (page[pageIdx + i] as PageRow).id, plannedAt: s.at })),
    });
    replanWritten = Math.max(replanWritten, request);
  };

  const startOne = async (row: PageRow): Promise<'started' | 'existing'> => {
    const args: InstallInput = {
      installationId: row.id,
      rolloutId,
      deviceId: row.deviceId,
      softwareId: input.softwareId,
      options: input.options,
      timeouts: input.timeouts,
      parentWorkflowId: rolloutWorkflowId(rolloutId),
    };
    try {
      await startChild('installWorkflow', {
        workflowId: installWorkflowId(rolloutId, row.deviceId),
        // what the Temporal UI shows on the install's page: device, software and version
        staticSummary: `Install ${input.softwareLabel ?? `software ${input.softwareId}`} on device ${row.deviceId}`,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // A closed install of this (rollout, device) is never run a second time either.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: RolloutId, value: rolloutId },
          { key: DeviceId, value: row.deviceId },
        ],
        args: [args],
      });
      return 'started';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'existing';
      throw err;
    }
  };

  /** Starts the due slots (at most one group), or marks the plan dirty when a slot cannot be used. */
  const startDue = async (now: number) => {
    const p = plan as Plan;
    const batch: { row: PageRow; slot: { at: number; date: string } }[] = [];
    while (batch.length < t.startBatchSize && pageIdx + batch.length < page.length) {
      const slot = p.slots[p.next + batch.length];
      if (!slot || slot.at > now) break;
      const dayEnd = p.dayEnds[slot.date] ?? Number.POSITIVE_INFINITY;
      if (now >= dayEnd || now - slot.at > t.lateToleranceMs) {
        // Too late for this slot (its calendar day is over, or the worker was away): replan from
        // now with the day's count, rather than bursting or overrunning a day's quota (S7).
        planDirty = true;
        replanFromNow = true;
        break;
      }
      batch.push({ row: page[pageIdx + batch.length] as PageRow, slot });
    }
    if (batch.length === 0) return;
    inFlight = batch.length;
    const results = await Promise.all(batch.map((b) => startOne(b.row)));
    inFlight = 0;
    const at = now; // when the starts were issued (the children's Started events follow within ms)
    for (const [i, b] of batch.entries()) {
      if (results[i] === 'existing') log.info('install workflow already existed: counted as started', { seq: b.row.seq });
      startsByDay[b.slot.date] = (startsByDay[b.slot.date] ?? 0) + 1;
      unmarked.push({
        id: b.row.id,
        workflowId: installWorkflowId(rolloutId, b.row.deviceId),
        plannedAt: b.slot.at,
        startedAt: at,
      });
    }
    cursor += batch.length;
    pageIdx += batch.length;
    p.next += batch.length;
    startsThisRun += batch.length;
    lastStartAt = at;
    if (state === 'scheduled') state = 'running';
    // A child that already existed may have finished before this run could hear of it (e.g. the
    // rollout was restarted): when in doubt, Postgres is the source of truth for its final status.
    const existing = batch.filter((_, i) => results[i] === 'existing').map((b) => b.row);
    if (existing.length > 0) {
      const statuses = await db.installationStatuses({ rolloutId, ids: existing.map((r) => r.id) });
      for (const st of statuses) {
        const row = existing.find((r) => r.id === st.id);
        if (row && st.final && st.status && finished.add(row.seq)) counts[st.status] = (counts[st.status] ?? 0) + 1;
      }
    }
  };

  const cancelStep = async () => {
    const c = cancel as NonNullable<typeof cancel>;
    await flushStarted();
    if (!c.notStartedDone) {
      if (cursor < total) {
        await db.cancelNotStartedInstallations({ rolloutId, fromSeq: cursor, reason: c.reason });
        const n = total - cursor;
        for (let s = cursor; s < total; s++) finished.add(s);
        counts[STATUS.cancelled] = (counts[STATUS.cancelled] ?? 0) + n;
        cancelledBeforeStart += n;
      }
      c.notStartedDone = true;
      c.cursor = finished.low;
      return;
    }
    // Cancel the outstanding children, one page at a time.
    const from = Math.max(c.cursor, finished.low);
    const rows = from < cursor ? await db.rolloutPage({ rolloutId, fromSeq: from, limit: t.pageSize }) : [];
    const targets = rows.filter((r) => r.seq < cursor && !finished.has(r.seq));
    for (let i = 0; i < targets.length; i += t.startBatchSize) {
      await Promise.all(
        targets.slice(i, i + t.startBatchSize).map(
          (r) =>
            getExternalWorkflowHandle(installWorkflowId(rolloutId, r.deviceId))
              .cancel()
              .catch(() => undefined), // already closed: its result is (or will be) reported
        ),
      );
    }
    const last = rows[rows.length - 1];
    c.cursor = last && last.seq + 1 < cursor ? last.seq + 1 : cursor;
  };

  const continueAsNewNow = async (): Promise<never> => {
    continuing = true;
    await flushStarted();
    await condition(allHandlersFinished);
    const next: RolloutCarry = {
      state,
      cursor,
      counts,
      startsByDay,
      finished: finished.encode(),
      cancelledBeforeStart,
      lastStartAt,
      cancel,
      alertSent,
      persistedState,
      runs,
    };
    log.info('rollout continues as new', { cursor, finished: finishedCount(), history: workflowInfo().historyLength });
    return makeContinueAsNewFunc<typeof rolloutWorkflow>({
      typedSearchAttributes: [
        { key: RolloutId, value: rolloutId },
        { key: RolloutStateKey, value: persistedState },
      ],
    })({ ...input, schedule, carry: next });
  };

  // -------------------------------------------------------------------------------------------
  // Main loop
  // -------------------------------------------------------------------------------------------

  for (;;) {
    await syncState();
    if (alertDue()) {
      alertSent = true;
      await mail
        .sendFailureAlert({ rolloutId, failures: failures(), threshold: input.failureThreshold, total })
        .catch((err) => log.error('failure alert not sent', { error: String(err) }));
    }
    if (allFinal()) break;
    if (shouldContinueAsNew()) await continueAsNewNow();

    if (cancel) {
      if (!cancel.notStartedDone || cancel.cursor < cursor) {
        await cancelStep();
        continue;
      }
      // Every cancel request is out: wait for the children to report, at most the grace period.
      const deadline = cancel.requestedAt + t.cancelGraceMs;
      const w = wake;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await condition(() => allFinal() || wake !== w || alertDue() || shouldContinueAsNew(), left);
      continue;
    }

    if (state === 'paused' || cursor >= total) {
      await flushStarted();
      const w = wake;
      await condition(() => wake !== w || allFinal() || alertDue() || shouldContinueAsNew());
      continue;
    }

    if (planDirty || !plan || pageIdx >= page.length) {
      await replan();
      continue;
    }
    const next = plan.slots[plan.next];
    if (!next) {
      planDirty = true;
      continue;
    }
    const now = Date.now();
    if (next.at > now) {
      // Before a long wait, write the started marks; with dense slots keep batching them.
      if (next.at - now > 60_000 || unmarked.length >= t.startBatchSize) await flushStarted();
      const w = wake;
      const waitMs = next.at - Date.now();
      if (waitMs > 0) await condition(() => wake !== w || alertDue() || shouldContinueAsNew(), waitMs);
      continue;
    }
    await startDue(now);
    if (unmarked.length >= t.startBatchSize) await flushStarted();
  }

  // -------------------------------------------------------------------------------------------
  // End: every job final (or the cancel grace is over)
  // -------------------------------------------------------------------------------------------
  await flushStarted();
  await condition(allHandlersFinished);
  const outcome: 'completed' | 'cancelled' = cancel ? 'cancelled' : 'completed';
  state = outcome;
  closed = true;
  upsertSearchAttributes([{ key: RolloutStateKey, value: state }]);
  await db.setRolloutState({ rolloutId, state, completed: true });
  persistedState = state;
  const dbCounts = await db.rolloutCounts({ rolloutId });
  if (input.notify.length > 0) {
    await mail
      .sendRolloutSummary({ rolloutId, outcome })
      .catch((err) => log.error('rollout summary not sent', { error: String(err) }));
  }
  return { ...progress(), dbCounts };
}
