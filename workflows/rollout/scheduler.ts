/**
 * The rollout's state and rules (S1–S9, P3): paces the installs by the schedule — a daily quota spread
 * evenly over the window of each selected weekday — and keeps the bookkeeping the `progress` query,
 * the control updates and the `installFinished` signals read and change.
 *
 * - The device list is in Postgres (installations, seq 0 … total − 1): paged by seq through an
 *   activity, never carried in the input or the history.
 * - Slot instants come from the local activity `planRolloutSlots` (domain/schedule.ts). The plan is made
 *   per page and again after pause/resume, a schedule change, a late slot and continue-as-new, always
 *   from the per-calendar-day start counter (`startsByDay`, S7): no calendar day of the rollout's time
 *   zone gets more starts than its quota, and a due slot is started only before the end of its own day.
 * - Starts that fall due together (unlimited or high quotas) go concurrently in groups of
 *   `startBatchSize`; their started marks are written to Postgres in batches.
 * - Postgres is the source of truth for reports; the finished bitmap (`SeqSet`) only answers "is every
 *   job final" and "which children to cancel".
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  CancelledFailure,
  ChildWorkflowFailure,
  condition,
  log,
  setCurrentDetails,
  TerminatedFailure,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Schedule } from '../../domain/schedule';
import { RolloutGroup as RolloutGroupKey, RolloutState as RolloutStateKey } from '../../domain/search-attributes';
import { FAILURE_STATUSES, type InstallStatus, isFinal, STATUS } from '../../domain/status';
import {
  type GroupWait,
  type HaltAlert,
  type InstallResult,
  installationIdFor,
  installationSeq,
  installWorkflowId,
  type PausedReason,
  type RolloutCarry,
  type RolloutInput,
  type RolloutOutcome,
  type RolloutProgress,
  type RolloutState,
  type RolloutTuning,
} from '../messages';
import { db, local, mail } from './activities';
import { type PageRow, startInstall } from './children';
import { GroupGate } from './groups';
import { SeqSet } from './seq-set';

interface Slot {
  at: number;
  date: string;
}

/** Which of the workflow's patches (workflows/rollout.ts) apply to this run: decided once, at its start. */
export interface RolloutPatches {
  /** `rollout-update-waits-for-planned-times` */
  plannedTimesWritten: boolean;
  /** `rollout-spread-over-window`: S5's spread (window ÷ n, n = min(quota left, devices left)). */
  spreadOverWindow: boolean;
  /** `rollout-starts-inside-window`: a late slot starts only before its window's end (S4). */
  startsInsideWindow: boolean;
  /** `rollout-alert-in-background`: the failure alert never holds up the main loop. */
  alertInBackground: boolean;
  /** `rollout-carry-replan-from-now`: a plan-from-now asked for survives continue-as-new. */
  carryReplanFromNow: boolean;
  /** `rollout-watches-children`: a child of this run that ends without a final status is failed by the rollout. */
  watchChildren: boolean;
  /** `rollout-cancel-skips-arrived`: cancel neither cancels nor waits for jobs whose software is on the device. */
  cancelSkipsArrived: boolean;
  /** `rollout-groups-and-safety`: staged groups, automatic halt, the pause reason, RolloutGroup (issue 14). */
  groups?: boolean;
}

interface Plan {
  today: string;
  slots: Slot[];
  dayEnds: Record<string, number>;
  windowEnds?: Record<string, number>;
  /** Index in `slots` of the next slot to use. */
  next: number;
}

export class RolloutScheduler {
  readonly rolloutId: string;
  readonly total: number;
  // Carried across continue-as-new (carry.ts)
  schedule: Schedule;
  state: RolloutState;
  /** Next seq to start: every job with seq < cursor has been started. */
  cursor: number;
  readonly counts: Record<string, number>;
  startsByDay: Record<string, number>;
  readonly finished: SeqSet;
  cancelledBeforeStart: number;
  lastStartAt: number | null;
  cancelRequest: RolloutCarry['cancel'];
  alertSent: boolean;
  persistedState: RolloutState;
  readonly runs: number;
  /** Staged groups (patched, a rollout with `groups`); null: one group, no gates, no halt. */
  readonly gate: GroupGate | null;
  pausedReason: PausedReason | null;
  persistedPausedReason: PausedReason | null;
  persistedGroup: string | null;
  halts: number;
  /** A halt whose alert mail is not sent yet. */
  haltAlert: HaltAlert | null;

  // This run only
  /** Seqs [cursor, cursor + inFlight) are being started right now. */
  private inFlight = 0;
  private startsThisRun = 0;
  private page: PageRow[] = [];
  private pageIdx = 0;
  private plan: Plan | undefined;
  private planDirty = true;
  /** Replans asked for by resume / schedule changes, and how many of them have their planned times in Postgres. */
  private replanRequests = 0;
  private replanWritten = 0;
  /**
   * Replan from now (after resume, a schedule change, or a slot that could not be used). Otherwise a
   * replan (next page, continue-as-new) continues after the last start, so the few seconds spent on
   * the page fetch or the hand-over do not make the next slot "missed".
   */
  private replanFromNow = false;
  /** Bumped by every handler that changes what the main loop should do. */
  private wake = 0;
  /** Starts made but not yet written to Postgres (flushed in batches). */
  private unmarked: { id: string; workflowId: string; plannedAt: number; startedAt: number }[] = [];
  /** Set when the workflow is about to return. */
  private closed = false;
  /** Set when the run hands over to continue-as-new. */
  continuing = false;
  /** Children of this run that ended without reporting a final status, to be failed in Postgres. */
  private lost: { seq: number; id: string; reason: string; workflowId: string }[] = [];
  /** The `rollout-update-waits-for-planned-times` patch applies to this execution. */
  private readonly plannedTimesWritten: boolean;

  constructor(
    readonly input: RolloutInput,
    readonly tuning: Required<RolloutTuning>,
    carry: RolloutCarry,
    readonly patches: RolloutPatches,
  ) {
    this.plannedTimesWritten = patches.plannedTimesWritten;
    this.rolloutId = input.rolloutId;
    this.total = input.total;
    this.schedule = input.schedule;
    this.state = carry.state;
    this.cursor = carry.cursor;
    this.counts = { ...carry.counts };
    this.startsByDay = { ...carry.startsByDay };
    this.finished = SeqSet.decode(carry.finished);
    this.cancelledBeforeStart = carry.cancelledBeforeStart;
    this.lastStartAt = carry.lastStartAt;
    this.cancelRequest = carry.cancel;
    this.alertSent = carry.alertSent;
    this.persistedState = carry.persistedState;
    this.runs = carry.runs + 1;
    this.replanFromNow = carry.replanFromNow === true;
    this.gate =
      patches.groups && input.groups && input.groups.length > 0 && input.safety
        ? new GroupGate(input.groups, input.safety, carry.groups)
        : null;
    this.pausedReason = carry.pausedReason ?? null;
    this.persistedPausedReason = carry.persistedPausedReason ?? null;
    this.persistedGroup = carry.persistedGroup ?? null;
    this.halts = carry.halts ?? 0;
    this.haltAlert = carry.haltAlert ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // What the loop and the handlers ask
  // -------------------------------------------------------------------------------------------

  finishedCount(): number {
    return this.finished.low + this.finished.sizeAboveLow;
  }

  failures(): number {
    return Object.entries(this.counts).reduce((n, [s, c]) => (FAILURE_STATUSES.has(s as InstallStatus) ? n + c : n), 0);
  }

  allFinal(): boolean {
    return this.finishedCount() >= this.total;
  }

  cancelling(): boolean {
    return this.cancelRequest !== null && !this.closed && !this.allFinal();
  }

  alertDue(): boolean {
    return !this.alertSent && this.input.failureThreshold > 0 && this.failures() >= this.input.failureThreshold;
  }

  shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return (
      this.startsThisRun >= this.tuning.startsPerRun ||
      info.continueAsNewSuggested ||
      info.historyLength >= this.tuning.maxHistoryEvents
    );
  }

  /** Nothing to start now: paused, every job started, or the next group waits for its gate. */
  idle(): boolean {
    return this.state === 'paused' || this.cursor >= this.total || this.gated();
  }

  /** Every job of the released groups started: the next group waits for its gate. */
  gated(): boolean {
    return this.gate !== null && this.cursor < this.total && this.cursor >= this.gate.limit();
  }

  /** The next group's wait (null when there is none). */
  waitingFor(): GroupWait | null {
    return this.gate && this.gated() && !this.cancelRequest ? this.gate.waiting(this.cursor) : null;
  }

  /**
   * The condition of the main loop's waits, from now on: a handler changed what to do, an alert is
   * due, or it is time to continue as new.
   */
  wokenUp(): () => boolean {
    const w = this.wake;
    return () => this.wake !== w || this.alertDue() || this.shouldContinueAsNew();
  }

  progress(): RolloutProgress {
    return {
      rolloutId: this.rolloutId,
      state: this.state,
      counts: { ...this.counts },
      total: this.total,
      started: this.cursor,
      finished: this.finishedCount(),
      outstanding: this.cursor - (this.finishedCount() - this.cancelledBeforeStart),
      remaining: this.cancelRequest ? 0 : this.total - this.cursor,
      nextStartAt: this.nextStartAt(),
      startsByDay: { ...this.startsByDay },
      cancelling: this.cancelling(),
      schedule: this.schedule,
      runs: this.runs,
      ...(this.patches.groups
        ? { pausedReason: this.state === 'paused' ? (this.pausedReason ?? 'admin') : null, waitingFor: this.waitingFor() }
        : {}),
      ...(this.gate ? { groups: this.gate.progress(this.cursor) } : {}),
    };
  }

  private nextStartAt(): string | null {
    const { plan } = this;
    if (this.state === 'paused' || this.cancelRequest || this.cursor >= this.total || !plan || this.planDirty) return null;
    if (this.gated()) return null; // no start is planned while the next group waits
    const s = plan.slots[plan.next];
    return s ? new Date(s.at).toISOString() : null;
  }

  // -------------------------------------------------------------------------------------------
  // The signal and the updates (validated in control.ts)
  // -------------------------------------------------------------------------------------------

  /** `installFinished`: a job of this rollout is final (duplicates and strangers are ignored). */
  installFinished(r: InstallResult): void {
    // A malformed payload is logged and ignored: a signal handler that throws fails the workflow task
    // for ever (it is retried with the same signal).
    if (typeof r !== 'object' || r === null || typeof r.installationId !== 'string' || typeof r.status !== 'string') {
      log.warn('malformed installFinished signal: ignored', { payload: safeJson(r) });
      return;
    }
    const seq = installationSeq(this.rolloutId, r.installationId);
    if (seq === undefined || seq >= this.cursor + this.inFlight || seq >= this.total) {
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
    this.countFinal(seq, r.status);
    // No wake-up here: the waits watch allFinal()/alertDue() themselves, so a result arriving while
    // the workflow sleeps until the next slot does not cancel and restart that timer.
  }

  /**
   * A child of this run closed without a final result (terminated in the Temporal UI, timed out,
   * failed): unless its job is final already, the main loop fails it in Postgres (`recordLost`).
   */
  private childLost(row: PageRow, err: unknown): void {
    if (this.finished.has(row.seq)) return;
    const reason = lostReason(err);
    log.warn('install workflow ended without a final status', { installationId: row.id, deviceId: row.deviceId, reason });
    this.lost.push({ seq: row.seq, id: row.id, reason, workflowId: installWorkflowId(this.rolloutId, row.deviceId) });
    this.wake++;
  }

  /** Every job started, some not final: the idle wait reconciles them now and then. */
  reconciling(): boolean {
    if (!this.patches.watchChildren || this.allFinal() || this.cancelRequest) return false;
    if (this.cursor >= this.total) return true;
    // a group waiting for its gate: the jobs of the groups before it must not stay open for ever
    return this.gated() && this.cursor > this.finishedCount();
  }

  private reconcileFrom = 0;
  /** The wait before the next reconciliation: `reconcileEveryMs`, doubled after each round that found nothing (≤ 1 h). */
  reconcileWaitMs = 0;

  /** Asks Postgres / the install workflows about up to a page of the jobs not final here; counts the final ones. */
  async reconcile(): Promise<void> {
    const ids: string[] = [];
    const from = Math.max(this.reconcileFrom, this.finished.low);
    let seq = from;
    for (; seq < this.cursor && ids.length < this.tuning.pageSize; seq++) {
      if (!this.finished.has(seq)) ids.push(installationIdFor(this.rolloutId, seq));
    }
    this.reconcileFrom = seq >= this.cursor ? 0 : seq; // the next round goes on from here, then wraps
    if (ids.length === 0) return;
    const statuses = await db.reconcileInstallations({ rolloutId: this.rolloutId, ids });
    let found = 0;
    for (const st of statuses) {
      const s = installationSeq(this.rolloutId, st.id);
      if (s !== undefined && isFinal(st.status) && !this.finished.has(s)) {
        this.countFinal(s, st.status);
        found++;
      }
    }
    const base = this.tuning.reconcileEveryMs;
    this.reconcileWaitMs =
      found > 0 ? base : Math.min(Math.max(base, 2 * (this.reconcileWaitMs || base)), Math.max(base, 3_600_000));
  }

  lostPending(): boolean {
    return this.lost.length > 0;
  }

  /** Writes `Installation failed` (with the reason) for the lost children; counts their final status. */
  async recordLost(): Promise<void> {
    const items = this.lost;
    this.lost = [];
    const statuses = await db.failLostInstallations({
      rolloutId: this.rolloutId,
      items: items.map((i) => ({ id: i.id, reason: i.reason, workflowId: i.workflowId })),
    });
    for (const st of statuses) {
      const item = items.find((i) => i.id === st.id);
      if (item) this.countFinal(item.seq, st.status);
    }
  }

  pause(): RolloutProgress {
    this.state = 'paused';
    if (this.patches.groups) this.pausedReason = 'admin';
    this.wake++;
    return this.progress();
  }

  async resume(): Promise<RolloutProgress> {
    this.state = this.cursor > 0 ? 'running' : 'scheduled';
    if (this.patches.groups) this.pausedReason = null;
    // the error threshold counts each group's jobs from now on: the admin has seen the failures so far
    this.gate?.resetBases();
    await this.replanned(); // from now, keeping today's count
    return this.progress();
  }

  cancel(req: { reason?: string }): RolloutProgress {
    this.cancelRequest = { requestedAt: Date.now(), notStartedDone: false, cursor: 0, reason: req?.reason };
    this.state = 'cancelled';
    this.wake++;
    return this.progress();
  }

  /** `approveGroup` (validated in control.ts): the group starts once the one before it succeeded. */
  approveGroup(req: { index: number }): RolloutProgress {
    this.gate?.approve(req.index);
    this.openGates();
    return this.progress();
  }

  /**
   * After a group's count changed: the automatic halt (G2) — the rollout pauses itself at once, starts
   * nothing (due starts neither: the loop sees the pause before its next start) and alerts — and the
   * gates of the next groups (G1).
   */
  private groupCounted(i: number): void {
    const gate = this.gate;
    if (!gate || this.cancelRequest || this.closed) return;
    const halted = this.state === 'paused' && this.pausedReason === 'error-threshold';
    if (i >= 0 && !halted && gate.shouldHalt(i)) {
      this.state = 'paused';
      this.pausedReason = 'error-threshold';
      this.halts++;
      this.haltAlert = gate.haltAlert(i, this.halts);
      log.warn('rollout halted: error threshold reached', { ...this.haltAlert });
      this.wake++;
    }
    this.openGates();
  }

  /** Releases the groups whose gate opened; a group the rollout was waiting for is planned from now. */
  private openGates(): void {
    const gate = this.gate;
    if (!gate) return;
    const wasGated = this.gated();
    const released = gate.release();
    if (released.length === 0) return;
    log.info('group released', { groups: released.map((i) => gate.groups[i]?.name) });
    if (wasGated) {
      // its slots went by while it waited: the rest of the day's quota is spread from now (S5, S7)
      this.planDirty = true;
      this.replanFromNow = true;
    }
    this.wake++;
  }

  async changeSchedule(next: Schedule): Promise<RolloutProgress> {
    this.schedule = next;
    await this.replanned();
    return this.progress();
  }

  /**
   * Asks the main loop for a new plan from now; resolves once it is made (`nextStartAt`) and, patched,
   * written (the jobs' planned times) — or once nothing is to be planned any more, or the run is handing
   * over to continue-as-new (that waits for the handlers, and the new run replans).
   */
  private replanned(): Promise<void> {
    this.planDirty = true;
    this.replanFromNow = true;
    this.wake++;
    const request = ++this.replanRequests;
    const over = () =>
      this.continuing || this.state === 'paused' || this.cancelRequest !== null || this.cursor >= this.total || this.gated();
    return this.plannedTimesWritten
      ? condition(() => this.replanWritten >= request || over())
      : condition(() => !this.planDirty || over());
  }

  // -------------------------------------------------------------------------------------------
  // Steps of the main loop
  // -------------------------------------------------------------------------------------------

  /** The RolloutState search attribute and rollouts.state follow the state. */
  async syncState(): Promise<void> {
    if (this.patches.groups) return this.syncStateAndGroup();
    if (this.state === this.persistedState) return;
    upsertSearchAttributes([{ key: RolloutStateKey, value: this.state }]);
    await db.setRolloutState({ rolloutId: this.rolloutId, state: this.state, completed: false });
    this.persistedState = this.state;
  }

  /** Patched: the pause reason with the state; the RolloutGroup search attribute; the current details. */
  private async syncStateAndGroup(): Promise<void> {
    const group = this.gate?.currentName() ?? null;
    if (group !== null && group !== this.persistedGroup) {
      upsertSearchAttributes([{ key: RolloutGroupKey, value: group }]);
      this.persistedGroup = group;
    }
    setCurrentDetails(this.details());
    const reason = this.state === 'paused' ? (this.pausedReason ?? 'admin') : null;
    if (this.state === this.persistedState && reason === this.persistedPausedReason) return;
    if (this.state !== this.persistedState) upsertSearchAttributes([{ key: RolloutStateKey, value: this.state }]);
    await db.setRolloutState({ rolloutId: this.rolloutId, state: this.state, completed: false, pausedReason: reason });
    this.persistedState = this.state;
    this.persistedPausedReason = reason;
  }

  /** What the Temporal UI shows as the rollout's current details (Markdown). */
  private details(): string {
    const lines = [
      `**${this.state}**${this.state === 'paused' ? ` (${this.pausedReason ?? 'admin'})` : ''}: ${this.cursor} of ${this.total} started, ${this.finishedCount()} final`,
    ];
    if (this.gate) {
      for (const g of this.gate.progress(this.cursor)) {
        lines.push(
          `- group ${g.index} ${g.name}: ${g.state}, ${g.started}/${g.total} started, ${g.succeeded} succeeded, ${g.failed} failed`,
        );
      }
      const w = this.waitingFor();
      if (w) lines.push(`waiting: ${w.message}`);
    }
    return lines.join('\n');
  }

  /** A halt's alert is to be sent (and is not being sent). */
  haltAlertDue(): boolean {
    return this.haltAlert !== null && this.haltSending === null;
  }

  private haltSending: Promise<unknown> | null = null;

  /** The halt's alert mail, in the background (like the failure alert): nothing waits for it. */
  sendHaltAlert(): void {
    const a = this.haltAlert as HaltAlert;
    const sending = mail
      .sendFailureAlert({ rolloutId: this.rolloutId, failures: a.failed, threshold: 0, total: this.total, halt: a })
      .catch((err) => log.error('halt alert not sent', { error: String(err) }))
      .finally(() => {
        if (this.haltAlert === a) this.haltAlert = null;
        this.haltSending = null;
      });
    this.haltSending = sending;
  }

  /**
   * The early alert (P3), once, when failures reach `failureThreshold`. Patched, it goes in the
   * background (its retries may last ~30 minutes while SMTP is down): no start, pause, resume or cancel
   * waits for it. `close()` waits for it; a run that continues as new while it is pending leaves it to
   * the next run, which sends it again.
   */
  async alert(): Promise<void> {
    if (!this.patches.alertInBackground) {
      await this.sendFailureAlert();
      return;
    }
    const sending = this.sendFailureAlert().finally(() => {
      if (this.alertPending === sending) this.alertPending = null;
    });
    this.alertPending = sending;
  }

  /** The alert being sent in the background, if any. */
  alertPending: Promise<unknown> | null = null;

  private sendFailureAlert(): Promise<unknown> {
    this.alertSent = true;
    return mail
      .sendFailureAlert({
        rolloutId: this.rolloutId,
        failures: this.failures(),
        threshold: this.input.failureThreshold,
        total: this.total,
      })
      .catch((err) => log.error('failure alert not sent', { error: String(err) }));
  }

  /** Writes the started marks made so far. */
  async flushStarted(): Promise<void> {
    if (this.unmarked.length === 0) return;
    const items = this.unmarked;
    this.unmarked = [];
    await db.markInstallationsStarted({ rolloutId: this.rolloutId, items });
  }

  /** A batch of started marks is waiting to be written. */
  manyUnmarked(): boolean {
    return this.unmarked.length >= this.tuning.startBatchSize;
  }

  /** A resume or schedule change asked for a plan from now that is not made yet. */
  replanFromNowPending(): boolean {
    return this.replanFromNow;
  }

  needsPlan(): boolean {
    return this.planDirty || !this.plan || this.pageIdx >= this.page.length;
  }

  /** The next slot of the plan (after `needsPlan()` said there is one). */
  nextSlot(): Slot | undefined {
    const plan = this.plan as Plan;
    return plan.slots[plan.next];
  }

  /** The plan has no slot left: make it again. */
  planUsedUp(): void {
    this.planDirty = true;
  }

  /** Plans the slots of the rest of the page (the next page first when this one is used up). */
  async replan(): Promise<void> {
    const { rolloutId } = this;
    if (this.pageIdx >= this.page.length) {
      this.page = await db.rolloutPage({ rolloutId, fromSeq: this.cursor, limit: this.tuning.pageSize });
      this.pageIdx = 0;
      if (this.page.length === 0) {
        // The rows are gone (rollout deleted underneath us): nothing left to start.
        log.error('no installations left to start although the rollout is not fully started', {
          cursor: this.cursor,
          total: this.total,
        });
        throw ApplicationFailure.nonRetryable(`rollout ${rolloutId}: installations from seq ${this.cursor} are missing`);
      }
    }
    const request = this.replanRequests; // the requests this plan serves: their schedule is read now
    const { lastStartAt } = this;
    const fromNow = this.replanFromNow || lastStartAt === null;
    const from = fromNow
      ? Math.max(Date.now(), lastStartAt === null ? 0 : lastStartAt + 1)
      : Math.max(lastStartAt + 1, Date.now() - this.tuning.lateToleranceMs);
    this.replanFromNow = false;
    const r = await local.planRolloutSlots({
      schedule: this.schedule,
      now: from,
      count: this.page.length - this.pageIdx,
      startsByDay: this.startsByDay,
      ...(this.patches.spreadOverWindow
        ? { spacing: 'spread' as const, devicesLeft: this.total - this.cursor, lastStartAt: fromNow ? undefined : lastStartAt }
        : {}),
    });
    this.plan = { ...r, next: 0 };
    // a request that came while planning was made with the schedule before it: plan again
    this.planDirty = this.plannedTimesWritten && this.replanRequests !== request;
    // S7 bookkeeping: only today and later days matter from now on
    this.startsByDay = Object.fromEntries(Object.entries(this.startsByDay).filter(([d]) => d >= r.today));
    await db.markInstallationsPlanned({
      rolloutId,
      items: r.slots.map((s, i) => ({ id: (this.page[this.pageIdx + i] as PageRow).id, plannedAt: s.at })),
    });
    this.replanWritten = Math.max(this.replanWritten, request);
  }

  /** Starts the due slots (at most one group), or marks the plan dirty when a slot cannot be used. */
  async startDue(now: number): Promise<void> {
    const { rolloutId, page, pageIdx, tuning } = this;
    const p = this.plan as Plan;
    const batch: { row: PageRow; slot: Slot }[] = [];
    // with groups: never past the last released group
    const limit = this.gate ? this.gate.limit() : this.total;
    while (batch.length < tuning.startBatchSize && pageIdx + batch.length < page.length && this.cursor + batch.length < limit) {
      const slot = p.slots[p.next + batch.length];
      if (!slot || slot.at > now) break;
      const dayEnd = p.dayEnds[slot.date] ?? Number.POSITIVE_INFINITY;
      // A slot due inside its window whose timer fires just after the window's end (a busy worker, a
      // server restart) still starts, up to `windowGraceMs` late; never after its calendar day (S7).
      const windowEnd = this.patches.startsInsideWindow ? (p.windowEnds?.[slot.date] ?? dayEnd) + tuning.windowGraceMs : dayEnd;
      if (now >= Math.min(dayEnd, windowEnd) || now - slot.at > tuning.lateToleranceMs) {
        // Too late for this slot (its window or calendar day is over, or the worker was away): replan
        // from now with the day's count, rather than starting outside the window (S4), bursting or
        // overrunning a day's quota (S7).
        this.planDirty = true;
        this.replanFromNow = true;
        break;
      }
      batch.push({ row: page[pageIdx + batch.length] as PageRow, slot });
    }
    if (batch.length === 0) return;
    this.inFlight = batch.length;
    const watch = (row: PageRow) =>
      this.patches.watchChildren
        ? (result: Promise<InstallResult>) => {
            result.then(
              (r) => this.installFinished(r),
              (err: unknown) => this.childLost(row, err),
            );
          }
        : undefined;
    const results = await Promise.all(batch.map((b) => startInstall(this.input, b.row, watch(b.row))));
    this.inFlight = 0;
    const at = now; // when the starts were issued (the children's Started events follow within ms)
    for (const [i, b] of batch.entries()) {
      if (results[i] === 'existing') log.info('install workflow already existed: counted as started', { seq: b.row.seq });
      this.startsByDay[b.slot.date] = (this.startsByDay[b.slot.date] ?? 0) + 1;
      this.unmarked.push({
        id: b.row.id,
        workflowId: installWorkflowId(rolloutId, b.row.deviceId),
        plannedAt: b.slot.at,
        startedAt: at,
      });
    }
    this.cursor += batch.length;
    this.pageIdx += batch.length;
    p.next += batch.length;
    this.startsThisRun += batch.length;
    this.lastStartAt = at;
    if (this.state === 'scheduled') this.state = 'running';
    // A child that already existed may have finished before this run could hear of it (e.g. the
    // rollout was restarted): when in doubt, Postgres is the source of truth for its final status.
    const existing = batch.filter((_, i) => results[i] === 'existing').map((b) => b.row);
    if (existing.length > 0) {
      const statuses = await db.installationStatuses({ rolloutId, ids: existing.map((r) => r.id) });
      for (const st of statuses) {
        const row = existing.find((r) => r.id === st.id);
        if (row && st.final && st.status) this.countFinal(row.seq, st.status);
      }
    }
  }

  /** The jobs not started yet are Cancelled (cancel.ts wrote their rows). */
  cancelNotStarted(): void {
    const n = this.total - this.cursor;
    for (let s = this.cursor; s < this.total; s++) this.finished.add(s);
    this.gate?.cancelledFrom(this.cursor);
    this.counts[STATUS.cancelled] = (this.counts[STATUS.cancelled] ?? 0) + n;
    this.cancelledBeforeStart += n;
  }

  /** The end, once every job is final (or the cancel grace is over): state, summary mail (P1, P3). */
  async close(): Promise<RolloutOutcome> {
    const { rolloutId } = this;
    await this.flushStarted();
    if (this.alertPending) await this.alertPending;
    if (this.haltSending) await this.haltSending;
    await condition(allHandlersFinished);
    const outcome: 'completed' | 'cancelled' = this.cancelRequest ? 'cancelled' : 'completed';
    this.state = outcome;
    this.closed = true;
    upsertSearchAttributes([{ key: RolloutStateKey, value: this.state }]);
    await db.setRolloutState({ rolloutId, state: this.state, completed: true });
    this.persistedState = this.state;
    const dbCounts = await db.rolloutCounts({ rolloutId });
    if (this.input.notify.length > 0) {
      await mail
        .sendRolloutSummary({ rolloutId, outcome })
        .catch((err) => log.error('rollout summary not sent', { error: String(err) }));
    }
    return { ...this.progress(), dbCounts };
  }

  /** Counts a final result once (the bitmap dedupes). */
  private countFinal(seq: number, status: string): void {
    if (!this.finished.add(seq)) return;
    this.counts[status] = (this.counts[status] ?? 0) + 1;
    if (this.gate) this.groupCounted(this.gate.countFinal(seq, status));
  }
}

/** A short printable form of an untrusted payload, for logs. */
function safeJson(v: unknown): string {
  try {
    return String(JSON.stringify(v)).slice(0, 200);
  } catch {
    return String(v).slice(0, 200);
  }
}

/** Why a child's result rejected, for the job's log ("install workflow terminated: reason"). */
function lostReason(err: unknown): string {
  if (err instanceof ChildWorkflowFailure) {
    const cause = err.cause;
    // (the parent's event carries no reason: failLostInstallations reads it from the install's history)
    if (cause instanceof TerminatedFailure) return 'install workflow terminated';
    if (cause instanceof TimeoutFailure) return 'install workflow timed out';
    if (cause instanceof CancelledFailure) return 'install workflow cancelled without a final status';
    return `install workflow failed: ${cause?.message ?? err.message}`;
  }
  return `install workflow ended without a final status: ${err instanceof Error ? err.message : String(err)}`;
}
