/**
 * Harness of the rollout workflow tests (time-skipping server): a test-only workflow bundle (real
 * rollout workflow + fake install workflow, see rollout.workflows.ts), and in-memory doubles of the
 * rollout's Postgres/mail activities. Slot planning is the REAL local activity (pure).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { planRolloutSlots } from '../../activities/rollout';
import type { Schedule } from '../../domain/schedule';
import { type InstallStatus, isFinal, STATUS } from '../../domain/status';
import {
  installationIdFor,
  installWorkflowId,
  type RolloutInput,
  type RolloutState,
  rolloutWorkflowId,
} from '../../workflows/messages';
import { CURRENT_ROLLOUT_SET, writeHistory } from './install-histories';
import { fakeOutcome, rolloutWorkflow } from './rollout.workflows';

export async function bundleRolloutTestWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(__dirname, 'rollout.workflows.ts'),
    logger: { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never,
  });
  return code;
}

export interface StartMark {
  id: string;
  seq: number;
  deviceId: string;
  workflowId: string;
  plannedAt: number;
  startedAt: number;
}

/** In-memory stand-in for the rollout's rows and the mails. */
export class FakeRolloutDb {
  readonly rolloutId = randomUUID();
  readonly rows: { id: string; seq: number; deviceId: string }[];
  readonly planned = new Map<string, number>();
  readonly starts: StartMark[] = [];
  readonly states: { state: RolloutState; completed: boolean }[] = [];
  /** The pause reasons written with the state (issue 14; patched runs only). */
  readonly pausedReasons: { state: RolloutState; pausedReason: string | null }[] = [];
  readonly cancelledFrom: number[] = [];
  readonly mails: { kind: 'summary' | 'alert'; input: unknown }[] = [];
  /** Non-final statuses a (fake) install is in, for `installationStatuses` (e.g. waiting for verification). */
  readonly currentStatus = new Map<string, InstallStatus>();
  /** Final statuses a (fake) install wrote, for `installationStatuses`. */
  readonly finalStatus = new Map<string, InstallStatus>();
  pageCalls = 0;
  /** Real milliseconds `markInstallationsPlanned` takes (a slow database). */
  plannedWriteDelayMs = 0;
  /** Calls of `markInstallationsPlanned` from this one on (0-based) fail, `failPlannedWrites.count` of them. */
  failPlannedWrites = { fromCall: 0, count: 0 };
  private plannedCalls = 0;
  /** `markInstallationsStarted` fails while this is set (the database is down). */
  holdStartedMarks = false;
  /** What `failLostInstallations` was asked to write (`Installation failed` with the reason). */
  readonly lost: { id: string; reason: string }[] = [];
  /** How `reconcileInstallations` describes an install workflow: its status name (set by the test). */
  describeChild: (workflowId: string) => Promise<string> = async () => 'RUNNING';
  /** `sendFailureAlert` fails (SMTP down). */
  alertFails = false;
  alertAttempts = 0;

  constructor(deviceIds: string[]) {
    this.rows = deviceIds.map((deviceId, seq) => ({ id: installationIdFor(this.rolloutId, seq), seq, deviceId }));
  }

  activities() {
    return {
      planRolloutSlots: async (req: Parameters<typeof planRolloutSlots>[0]) => planRolloutSlots(req),
      rolloutPage: async (i: { rolloutId: string; fromSeq: number; limit: number }) => {
        this.pageCalls++;
        return this.rows.filter((r) => r.seq >= i.fromSeq).slice(0, i.limit);
      },
      markInstallationsPlanned: async (i: { items: { id: string; plannedAt: number }[] }) => {
        const call = this.plannedCalls++;
        const f = this.failPlannedWrites;
        if (call >= f.fromCall && call < f.fromCall + f.count) throw new Error('database unavailable');
        if (this.plannedWriteDelayMs > 0) await new Promise((r) => setTimeout(r, this.plannedWriteDelayMs));
        for (const it of i.items) this.planned.set(it.id, it.plannedAt);
      },
      markInstallationsStarted: async (i: {
        items: { id: string; workflowId: string; plannedAt: number; startedAt: number }[];
      }) => {
        if (this.holdStartedMarks) throw new Error('database unavailable');
        for (const it of i.items) {
          if (this.starts.some((s) => s.id === it.id)) continue; // idempotent
          const row = this.rows.find((r) => r.id === it.id)!;
          this.starts.push({ ...it, seq: row.seq, deviceId: row.deviceId });
        }
      },
      cancelNotStartedInstallations: async (i: { fromSeq: number }) => {
        this.cancelledFrom.push(i.fromSeq);
        const n = this.rows.filter((r) => r.seq >= i.fromSeq && !this.starts.some((s) => s.id === r.id)).length;
        return { count: n };
      },
      setRolloutState: async (i: { state: RolloutState; completed: boolean; pausedReason?: string | null }) => {
        this.states.push({ state: i.state, completed: i.completed });
        if (i.pausedReason !== undefined) this.pausedReasons.push({ state: i.state, pausedReason: i.pausedReason });
      },
      installationStatuses: async (i: { ids: string[] }) =>
        i.ids.map((id) => ({
          id,
          status: this.finalStatus.get(id) ?? this.currentStatus.get(id) ?? null,
          final: isFinal(this.finalStatus.get(id)),
        })),
      failLostInstallations: async (i: { items: { id: string; reason: string }[] }) =>
        i.items.map((it) => {
          const final = this.finalStatus.get(it.id);
          if (isFinal(final)) return { id: it.id, status: final as InstallStatus };
          if (!this.lost.some((l) => l.id === it.id)) this.lost.push(it);
          this.finalStatus.set(it.id, STATUS.installationFailed);
          return { id: it.id, status: STATUS.installationFailed };
        }),
      reconcileInstallations: async (i: { ids: string[] }) => {
        const out: { id: string; status: InstallStatus }[] = [];
        for (const id of i.ids) {
          const row = this.rows.find((r) => r.id === id);
          if (!row) continue;
          const final = this.finalStatus.get(id);
          if (isFinal(final)) {
            out.push({ id, status: final as InstallStatus });
            continue;
          }
          const status = await this.describeChild(this.childId(row.deviceId));
          if (status === 'RUNNING') continue;
          const reason = `install workflow ${status.toLowerCase()} without a final status`;
          this.lost.push({ id, reason });
          this.finalStatus.set(id, STATUS.installationFailed);
          out.push({ id, status: STATUS.installationFailed });
        }
        return out;
      },
      rolloutCounts: async () => this.expectedCounts(),
      sendRolloutSummary: async (input: unknown) => {
        this.mails.push({ kind: 'summary', input });
        return { sent: true };
      },
      sendFailureAlert: async (input: unknown) => {
        this.alertAttempts++;
        if (this.alertFails) throw new Error('SMTP server unavailable');
        this.mails.push({ kind: 'alert', input });
        return { sent: true };
      },
    };
  }

  /** What the fake installs end with, for the started devices (+ Cancelled for the rest after a cancel). */
  expectedCounts(cancelledIds: Set<string> = new Set()): Record<string, number> {
    const counts: Record<string, number> = {};
    const started = new Set(this.starts.map((s) => s.id));
    for (const r of this.rows) {
      let status: string | undefined;
      if (cancelledIds.has(r.id)) status = STATUS.cancelled;
      else if (started.has(r.id)) status = fakeOutcome(r.deviceId).result.status;
      else if (this.cancelledFrom.length > 0) status = STATUS.cancelled;
      if (status) counts[status] = (counts[status] ?? 0) + 1;
    }
    return counts;
  }

  input(schedule: Schedule, over: Partial<RolloutInput> = {}): RolloutInput {
    return {
      rolloutId: this.rolloutId,
      softwareId: randomUUID(),
      total: this.rows.length,
      options: { useDm: false, push: 'sms', maxPushAttempts: 3 },
      timeouts: { bootstrapMs: 3_600_000, dmInstallMs: 7_200_000, ticketLifetimeMs: 604_800_000, verificationMs: 1_209_600_000 },
      schedule,
      notify: ['ops@example.com'],
      failureThreshold: 0,
      ...over,
      // a reconciliation period that never meets a fake child's whole-minute end: the Java test server
      // strands a workflow whose task cancels a timer firing at that same instant (sdk-java #3088)
      tuning: { reconcileEveryMs: 10 * 60_000 + 7_000, ...over.tuning },
    };
  }

  get workflowId(): string {
    return rolloutWorkflowId(this.rolloutId);
  }

  childId(deviceId: string): string {
    return installWorkflowId(this.rolloutId, deviceId);
  }
}

export async function createRolloutWorker(
  env: TestWorkflowEnvironment,
  code: string,
  activities: object,
): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = `rollout-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: { code },
    activities,
    maxCachedWorkflows: 200,
  });
  return { worker, taskQueue };
}

/**
 * Runs `body` while a worker serves one rollout workflow on `env`; `at(ms)` skips server time to an
 * instant. `record`: with RECORD_HISTORIES=1, the finished run's history is written for replay.test.ts.
 */
export async function runRollout<T>(
  env: TestWorkflowEnvironment,
  code: string,
  fake: FakeRolloutDb,
  input: RolloutInput,
  body: (h: WorkflowHandle<typeof rolloutWorkflow>, at: (ms: number) => Promise<void>) => Promise<T>,
  record?: string,
): Promise<T> {
  const { worker, taskQueue } = await createRolloutWorker(env, code, fake.activities());
  return worker.runUntil(async () => {
    const h = await env.client.workflow.start(rolloutWorkflow, { taskQueue, workflowId: fake.workflowId, args: [input] });
    const at = async (ms: number) => {
      const now = await env.currentTimeMs();
      if (ms <= now) throw new Error(`test bug: ${new Date(ms).toISOString()} is not after ${new Date(now).toISOString()}`);
      await env.sleep(ms - now);
    };
    try {
      const out = await body(h, at);
      if (record && process.env.RECORD_HISTORIES) await writeHistory(record, await h.fetchHistory(), CURRENT_ROLLOUT_SET);
      return out;
    } finally {
      // a failed test must not leave a workflow behind: its pending tasks would stop time skipping
      await h.terminate('test over').catch(() => undefined);
    }
  });
}

const DAY = 86_400_000;

/** Midnight UTC of the first Monday at least `minDays` days after `now`, as epoch ms and date. */
export function mondayAfter(now: number, minDays = 2): { ms: number; date: string } {
  let d = Math.floor(now / DAY) + minDays;
  // 1970-01-01 was a Thursday: weekday index (Mon = 0) of day number d is (d + 3) % 7
  while ((d + 3) % 7 !== 0) d++;
  return { ms: d * DAY, date: new Date(d * DAY).toISOString().slice(0, 10) };
}

export const HOUR = 3_600_000;
export const MINUTE = 60_000;
export { DAY };

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function countBy<T>(xs: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}
