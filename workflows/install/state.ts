/**
 * One install job's state (R1–R8): what the `status` query, the search attributes and the current
 * details show, the signals it heard, and the one way to change it — a transition, recorded by an
 * activity (job row + log rows, idempotent by the transition counter `seq`).
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { condition, log, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { InstallContext, LogEvent } from '../../activities/install';
import * as SA from '../../domain/search-attributes';
import { type InstallStatus, isFinal, STATUS } from '../../domain/status';
import type { InstallInput, InstallResult, InstallState } from '../messages';
import { type Atomic, atomicScope, type DbCall, databaseActivities } from './activities';
import { DeviceReports } from './device-reports';
import { METHOD_NAMES } from './format';

/** Thrown once the job reached its final status: it unwinds the phases to the workflow function. */
export class Finished {
  constructor(
    readonly status: InstallStatus,
    readonly reason?: string,
  ) {}
}

/** What a delivery phase works on: the device, the software, and the file chosen for them (R7). */
export interface Delivery {
  device: InstallContext['device'];
  software: InstallContext['software'];
  fileId: string;
}

/**
 * The workflow patches an execution runs with, decided once at its start (workflows/install.ts):
 * executions started before a patch keep their old commands (the replay tests' older sets).
 */
export interface InstallPatches {
  /** `install-local-db-activities`: database activities run as local activities. */
  localDb: boolean;
  /** `install-signal-payloads-checked`: malformed signal payloads are ignored and logged. */
  checkedSignals: boolean;
  /** `install-device-failure-ends-dm-phase`: a post-install failure during bootstrap / DM install fails the job, no push. */
  deviceFailureEndsDm: boolean;
  /** `install-tickets-revoked-when-final`: the job's download links are revoked at any final status. */
  revokeWhenFinal: boolean;
  /** `install-arrival-ends-any-phase`: a late DM success or a sync reporting the version ends any phase. */
  arrivalEndsAnyPhase: boolean;
  /** `install-cancel-keeps-arrived-software`: a cancel during verification lets the verification end the job. */
  cancelKeepsArrived: boolean;
  /** `install-push-send-timeout`: a push is retried with capped backoff until `pushSendMs`. */
  pushSendTimeout: boolean;
  /** `install-ends-when-already-final`: a job final before its install ran (device retired) ends at once. */
  endsWhenFinal: boolean;
  /** `install-in-house-ios-needs-sms`: an in-house iOS job without an MSISDN fails, never marked (issue 14). */
  inHouseNeedsSms?: boolean;
  /** `install-final-transition-revokes`: the final transition revokes the job's links itself (issue 17). */
  finalTransitionRevokes?: boolean;
}

export class InstallJob {
  readonly state: InstallState;
  readonly reports = new DeviceReports();
  /** The database activities: local since the `install-local-db-activities` patch. */
  readonly db: DbCall;
  /** Runs writes (and what must not be cut short) to their end whatever cancel arrives. */
  readonly atomic: Atomic;
  /** The job's facts (device, software, inventory), once loaded. */
  private ctx: InstallContext | undefined;
  /** The software file this job delivers (R7), once chosen. */
  private fileId: string | undefined;
  /** A ticket may exist (a push or the DM install was asked for): the final status revokes them. */
  ticketsIssued = false;
  /** The OMA DM install was sent to the device (its late success still counts). */
  dmInstallSent = false;
  private seq = 0;
  private pendingNotes: { event: LogEvent; message: string }[] = [];
  /** Search attributes that go with the next upsert (patched executions: the ids and software, once known). */
  private pendingAttributes: SearchAttributeUpdatePair[] = [];

  /** Whether the `install-local-db-activities` patch applies to this execution. */
  readonly local: boolean;

  constructor(
    readonly input: InstallInput,
    readonly workflowId: string,
    readonly patches: InstallPatches,
  ) {
    this.local = patches.localDb;
    this.state = { installationId: input.installationId, status: null, method: null, pushAttempts: 0 };
    this.db = databaseActivities(this.local);
    this.atomic = atomicScope();
    if (patches.checkedSignals) {
      this.reports.malformed = (signal, why) => {
        log.warn('ignored a malformed signal', { signal, why, installationId: input.installationId });
        this.note('error', `ignored a malformed ${signal} signal: ${why}`);
      };
    }
  }

  /** The `status` query's answer. */
  snapshot(): InstallState {
    return { ...this.state };
  }

  /** Loads the device, the software and the inventory; the syncs heard so far count from now on. */
  async load(): Promise<InstallContext> {
    const { installationId, deviceId, softwareId } = this.input;
    this.ctx = await this.db('loadInstallContext', 'load device, software and inventory', [
      { installationId, deviceId, softwareId },
    ]);
    this.reports.softwareKnown(this.ctx.software);
    return this.ctx;
  }

  /** Search attributes for the next transition's upsert. */
  upsertWithNextTransition(attributes: SearchAttributeUpdatePair[]): void {
    this.pendingAttributes = attributes;
  }

  chooseFile(fileId: string): void {
    this.fileId = fileId;
  }

  /** A log row, written with the next transition. */
  note(event: LogEvent, message: string): void {
    this.pendingNotes.push({ event, message });
  }

  /**
   * One transition: job row + log rows (pending notes first), search attributes, details. With
   * `revokeTickets` the activity revokes the job's live tickets too, its note after the pending ones.
   */
  async transition(
    to: InstallStatus | null,
    opts: { message?: string; detail?: string | null; revokeTickets?: boolean } = {},
  ): Promise<void> {
    const { state } = this;
    const from = state.status;
    const notes = this.pendingNotes;
    this.pendingNotes = [];
    const seq = ++this.seq;
    const detail = opts.detail !== undefined ? opts.detail : (opts.message ?? null);
    const summary =
      (to ? `${from ?? 'new'} → ${to}` : `log: ${notes.map((n) => n.event).join(', ') || 'details'}`) +
      (opts.revokeTickets ? ', revoke download links' : '');
    await this.atomic(() =>
      this.db('recordInstallTransition', summary, [
        {
          installationId: this.input.installationId,
          seq,
          workflowId: this.workflowId,
          notes,
          ...(to ? { status: { from, to, final: isFinal(to), message: opts.message } } : {}),
          method: state.method,
          detail,
          ...(this.fileId ? { fileId: this.fileId } : {}),
          ...(opts.revokeTickets ? { revokeTickets: true } : {}),
        },
      ]),
    );
    if (to) state.status = to;
    state.detail = detail ?? undefined;
    upsertSearchAttributes([
      ...this.pendingAttributes,
      ...(to ? [{ key: SA.InstallStatus, value: to }] : []),
      ...(state.method ? [{ key: SA.PushMethod, value: state.method }] : []),
    ]);
    this.pendingAttributes = [];
    this.refreshDetails();
  }

  /** The final transition: the job ends with `status` (since the patch: its download links revoked first). */
  async finish(status: InstallStatus, reason?: string): Promise<never> {
    await this.finalTransition(status, reason, this.patches.revokeWhenFinal && this.ticketsIssued);
    throw new Finished(status, reason);
  }

  /**
   * The transition to a final status, the job's links revoked first when `revoke`: in the same
   * activity since the `install-final-transition-revokes` patch, by `revokePushTickets` before it.
   */
  finalTransition(status: InstallStatus, reason: string | undefined, revoke: boolean): Promise<void> {
    if (revoke && this.patches.finalTransitionRevokes) return this.transition(status, { message: reason, revokeTickets: true });
    if (revoke) return this.revokeTickets().then(() => this.transition(status, { message: reason }));
    return this.transition(status, { message: reason });
  }

  /**
   * The job was final before its install ran (its device retired): the status stands as written, no
   * transition is recorded and nothing is sent; the parent hears the status as from any final job.
   */
  endedBeforeStart(status: InstallStatus): never {
    this.state.status = status;
    upsertSearchAttributes([{ key: SA.InstallStatus, value: status }]);
    this.refreshDetails();
    throw new Finished(status, 'the job was final before its install started');
  }

  /** Revokes every live ticket of the job (its links answer 410 from now on); the count goes to the log. */
  async revokeTickets(said?: string): Promise<void> {
    const { revoked } = await this.atomic(() =>
      this.db('revokePushTickets', 'revoke download links', [{ installationId: this.input.installationId }]),
    );
    if (revoked > 0) this.note('info', said ?? `${revoked} download link${revoked > 1 ? 's' : ''} revoked`);
  }

  /** The device reported a post-install failure: the job failed. */
  failByDeviceReport(): Promise<never> {
    const reason = `the device reported: ${this.reports.postInstallFailure}`;
    this.note('error', reason);
    return this.finish(STATUS.installationFailed, reason);
  }

  /** Waits until `pred()` or `ms` passed; a post-install failure ends the wait too. */
  async waitFor(pred: () => boolean, ms: number, what: string): Promise<boolean> {
    const { state } = this;
    state.waitingFor = what;
    state.until = new Date(Date.now() + ms).toISOString();
    this.refreshDetails();
    try {
      return await condition(() => pred() || this.reports.postInstallFailure !== undefined, ms).then(() => pred());
    } finally {
      state.waitingFor = undefined;
      state.until = undefined;
    }
  }

  /** The job's result for the rollout (P1). */
  result(status: InstallStatus, reason?: string): InstallResult {
    const { installationId, deviceId } = this.input;
    return reason === undefined ? { installationId, deviceId, status } : { installationId, deviceId, status, reason };
  }

  /** The current details the Temporal UI shows: status, job, method, what the job waits for. */
  refreshDetails(): void {
    const { state, ctx } = this;
    const lines = [`**${state.status ?? 'Starting'}**`];
    if (ctx)
      lines.push(`${ctx.software.name} ${ctx.software.version} → device ${ctx.device.externalId} (${ctx.device.platform})`);
    if (state.method) {
      const attempts =
        state.method !== 'dm' && state.pushAttempts > 0
          ? ` · push ${state.pushAttempts} of ${this.input.options.maxPushAttempts}`
          : '';
      lines.push(`method: ${METHOD_NAMES[state.method]}${attempts}`);
    }
    if (state.waitingFor) lines.push(`waiting for ${state.waitingFor}${state.until ? ` until ${state.until}` : ''}`);
    if (state.detail) lines.push(state.detail);
    setCurrentDetails(lines.join('\n\n'));
  }
}
