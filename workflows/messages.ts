/**
 * The messages of DeviceRollout's workflows: names, inputs, signals, queries and updates.
 * Shared by the workflows, the API (which signals/queries/updates them) and the tests — so it may
 * import only workflow-safe modules.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RolloutGroup, RolloutSafety } from '../domain/groups';
import type { RolloutState } from '../domain/rollout-state';
import type { Schedule } from '../domain/schedule';
import type { InstallStatus } from '../domain/status';

// ---------------------------------------------------------------------------------------------
// Install workflow: one per (rollout, device)
// ---------------------------------------------------------------------------------------------

export const installWorkflowId = (rolloutId: string, deviceId: string) => `install/${rolloutId}/${deviceId}`;

export type PushMethod = 'sms' | 'wap' | 'mark';

export interface InstallOptions {
  useDm: boolean;
  push: PushMethod;
  /** How many pushes (first one included) before the job gives up; each lasts one ticket lifetime. */
  maxPushAttempts: number;
}

export interface InstallTimeoutsMs {
  bootstrapMs: number;
  dmInstallMs: number;
  ticketLifetimeMs: number;
  verificationMs: number;
  /** How long a push is retried while the gateway fails (PUSH_SEND_TIMEOUT); absent in older inputs: 24h. */
  pushSendMs?: number;
}

export interface InstallInput {
  installationId: string;
  rolloutId: string;
  deviceId: string;
  softwareId: string;
  options: InstallOptions;
  timeouts: InstallTimeoutsMs;
  /** The rollout workflow to tell when this job is final (signal `installFinished`). */
  parentWorkflowId?: string;
  /**
   * The install code revision the starter asks for (workflows/install.ts `INSTALL_REVISION`): 2 runs
   * every patch up to issue 17 without recording patch markers; absent = 1 (each patch decided by `patched()`).
   */
  revision?: number;
}

export interface InstallResult {
  installationId: string;
  deviceId: string;
  status: InstallStatus;
  /** Why it failed / was not needed, for reports (P1). */
  reason?: string;
}

export interface InstallState {
  installationId: string;
  status: InstallStatus | null;
  method: 'dm' | PushMethod | null;
  /** What the workflow is waiting for right now, e.g. "download signal", and until when (ISO). */
  waitingFor?: string;
  until?: string;
  pushAttempts: number;
  detail?: string;
}

/** The device fetched the whole file (last byte served) or reported download-end success. */
export const downloadedSignal = defineSignal<[{ ticket?: string; at?: string; source: 'download' | 'report' }]>('downloaded');
/** The device reported download-end failure or post-install failure (logged; may trigger a re-push). */
export const downloadFailedSignal = defineSignal<[{ phase: string; detail?: string }]>('downloadFailed');
/** System-info sync (D4): the inventory the device reported. */
export const sysinfoSyncedSignal = defineSignal<[{ installed: Record<string, string>; at?: string }]>('sysinfoSynced');
/** The first authenticated DM session of the device confirmed its bootstrap (M2). */
export const bootstrapConfirmedSignal = defineSignal<[]>('bootstrapConfirmed');
/** The DM engine's result of the SCOMO install (Generic Alert 1226). */
export const dmInstallResultSignal = defineSignal<[{ success: boolean; code?: number; detail?: string }]>('dmInstallResult');

export const installStatusQuery = defineQuery<InstallState>('status');

// ---------------------------------------------------------------------------------------------
// Rollout workflow: one per rollout, parent of the install workflows
// ---------------------------------------------------------------------------------------------

export const rolloutWorkflowId = (rolloutId: string) => `rollout/${rolloutId}`;

/** Sent by an install workflow to its rollout when it reaches a final status. */
export const installFinishedSignal = defineSignal<[InstallResult]>('installFinished');

// ---------------------------------------------------------------------------------------------
// Rollout workflow: input, progress query, control updates (issue 4)
// ---------------------------------------------------------------------------------------------

/** The rollout's lifecycle (SPEC `GET /rollouts/:id`): defined in domain/, part of the messages. */
export type { RolloutState } from '../domain/rollout-state';

/** Knobs of the rollout workflow (defaults in workflows/rollout.ts `ROLLOUT_TUNING_DEFAULTS`). */
export interface RolloutTuning {
  /** Installations fetched (and planned) per page. */
  pageSize?: number;
  /** Children started concurrently in one group when many fall due together. */
  startBatchSize?: number;
  /** Continue-as-new after this many starts in one run (also bounds pending children per run). */
  startsPerRun?: number;
  /** Continue-as-new when the run's history passes this many events. */
  maxHistoryEvents?: number;
  /** A slot missed by more than this (worker outage) is not started late: the rest is replanned. */
  lateToleranceMs?: number;
  /**
   * A slot due inside its window may still start this long after the window's end (its timer fired
   * late); later, the rest is re-planned to the next window.
   */
  windowGraceMs?: number;
  /** After cancel: how long to wait for the cancelled children to report before closing anyway. */
  cancelGraceMs?: number;
  /** Every job started, some not final: how often to reconcile them with Postgres and their workflows. */
  reconcileEveryMs?: number;
}

/**
 * Bookkeeping carried across continue-as-new (never the device list: the workflow pages it from
 * Postgres by `seq`).
 */
export interface RolloutCarry {
  state: RolloutState;
  /** Next seq to start: every installation with seq < cursor has been started. */
  cursor: number;
  counts: Record<string, number>;
  /** Starts per calendar day (schedule time zone), today and later only (S7). */
  startsByDay: Record<string, number>;
  /** Seqs whose final result arrived (see `SeqSet` in workflows/rollout/seq-set.ts). */
  finished: { base: number; hex: string };
  /** How many of the final results are "cancelled before start" (no child ever ran). */
  cancelledBeforeStart: number;
  lastStartAt: number | null;
  /** `arrived`: seqs whose software was on the device at the cancel: not cancelled, not waited for. */
  cancel: { requestedAt: number; notStartedDone: boolean; cursor: number; reason?: string; arrived?: number[] } | null;
  alertSent: boolean;
  /** State last written to Postgres / the RolloutState search attribute. */
  persistedState: RolloutState;
  runs: number;
  /** A resume or schedule change asked the run to plan from now and it handed over first (absent: false). */
  replanFromNow?: boolean;
  /** Staged groups (issue 14): each group's counts and gate, in the order of `RolloutInput.groups`. */
  groups?: GroupCarry[];
  /** Why the rollout is paused (absent: not paused, or paused by an admin before issue 14). */
  pausedReason?: PausedReason | null;
  /** The pause reason last written to Postgres. */
  persistedPausedReason?: PausedReason | null;
  /** The RolloutGroup search attribute last written. */
  persistedGroup?: string | null;
  /** How many automatic halts so far (each one's alert mail has its own key). */
  halts?: number;
  /** A halt whose alert mail is not sent yet. */
  haltAlert?: HaltAlert | null;
}

/** Why a rollout is paused: by an admin (`pause`), or by itself when a group's failures reached the error threshold. */
export type PausedReason = 'admin' | 'error-threshold';

/** One group's bookkeeping, carried across continue-as-new. */
export interface GroupCarry {
  /** Jobs of the group final / succeeded (SUCCESS_STATUSES) / failed (FAILURE_STATUSES). */
  final: number;
  succeeded: number;
  failed: number;
  /** `final` / `failed` at the last resume: the error threshold counts the jobs since. */
  baseFinal: number;
  baseFailed: number;
  /** The group may start (the first one always). */
  released: boolean;
  /** An admin approved the group (`approval: "manual"`). */
  approved: boolean;
}

/** The alert of an automatic halt (G2). */
export interface HaltAlert {
  group: number;
  name: string;
  final: number;
  failed: number;
  /** The error threshold, as text ("5%", "3 jobs"). */
  threshold: string;
  /** The halt's number in this rollout (1, 2, …): the mail's idempotency key. */
  halt: number;
}

export type GroupState = 'waiting' | 'awaiting-approval' | 'running' | 'done';

export interface GroupProgress {
  index: number;
  name: string;
  total: number;
  started: number;
  succeeded: number;
  failed: number;
  state: GroupState;
}

/** Why nothing starts although jobs are left: the next group waits for its gate. */
export interface GroupWait {
  group: number;
  name: string;
  reason: 'success-threshold' | 'approval';
  message: string;
}

export interface RolloutInput {
  rolloutId: string;
  softwareId: string;
  /** "DME Client 5.2": the static summary of every install in the Temporal UI (absent in old inputs). */
  softwareLabel?: string;
  /** Number of installation rows (seq 0 … total − 1). */
  total: number;
  options: InstallOptions;
  timeouts: InstallTimeoutsMs;
  schedule: Schedule;
  /** Notification addresses (P3); empty: no email. */
  notify: string[];
  /** Early alert when this many jobs have failed (P3); 0: no early alert. */
  failureThreshold: number;
  /**
   * Staged groups in planned order (issue 14): seqs [from, from + size), covering 0 … total − 1. Absent:
   * one group, no gates, no automatic halt (the behaviour before issue 14).
   */
  groups?: RolloutGroup[];
  /** The thresholds and approval of the groups (with `groups`). */
  safety?: RolloutSafety;
  tuning?: RolloutTuning;
  /** Set by continue-as-new only. */
  carry?: RolloutCarry;
}

export interface RolloutProgress {
  rolloutId: string;
  state: RolloutState;
  /** Final results per status (and `Cancelled` for jobs cancelled before they started). */
  counts: Record<string, number>;
  total: number;
  /** Children started. */
  started: number;
  /** Jobs final. */
  finished: number;
  /** Started and not final yet. */
  outstanding: number;
  /** Not started yet (0 once cancelled). */
  remaining: number;
  /** Next planned start (ISO), null when none is due (paused, cancelled, all started). */
  nextStartAt: string | null;
  /** Starts per calendar day of the schedule's time zone (recent days). */
  startsByDay: Record<string, number>;
  /** Cancel accepted, waiting for cancelled children to report. */
  cancelling: boolean;
  schedule: Schedule;
  runs: number;
  /** Why it is paused; null when it is not. */
  pausedReason?: PausedReason | null;
  /** The groups (a rollout with `groups` only). */
  groups?: GroupProgress[];
  /** Set while the next group waits for its gate: no start is planned (`nextStartAt` null), no quota used. */
  waitingFor?: GroupWait | null;
}

export interface RolloutOutcome extends RolloutProgress {
  /** Counts per status read from Postgres at the end (the source of truth). */
  dbCounts: Record<string, number>;
}

export const rolloutProgressQuery = defineQuery<RolloutProgress>('progress');

/** Stop starting installs (timers cancelled). Rejected when not scheduled/running. */
export const pauseRolloutUpdate = defineUpdate<RolloutProgress, []>('pause');
/** Start again, replanned from now, keeping today's quota. Rejected when not paused. */
export const resumeRolloutUpdate = defineUpdate<RolloutProgress, []>('resume');
/** Stop starting; mark not-started jobs Cancelled; cancel the outstanding children. */
export const cancelRolloutUpdate = defineUpdate<RolloutProgress, [{ reason?: string }]>('cancel');
/** Replace the schedule (validated; the time zone cannot change); replanned at once. */
export const changeScheduleUpdate = defineUpdate<RolloutProgress, [Schedule]>('changeSchedule');

/**
 * Approve group `index` (≥ 1) of a rollout with `approval: "manual"`: it starts once the group before it
 * reached the success threshold. Rejected (with a reason) for an unknown index, automatic approval, a
 * group approved or started already, or a rollout that is over.
 */
export const approveGroupUpdate = defineUpdate<RolloutProgress, [{ index: number }]>('approveGroup');

/** ApplicationFailure types with which the updates' validators reject a request. */
export const ROLLOUT_REJECTION = {
  conflict: 'RolloutConflict',
  invalidSchedule: 'InvalidSchedule',
  /** A request naming something the rollout does not have (e.g. a group index). */
  notFound: 'RolloutNotFound',
} as const;

/**
 * Installation ids of a rollout encode their seq: the rollout id's first 24 characters (8-4-4-4-,
 * ~70 random bits of a v4 uuid, so ids of different rollouts never meet) followed by the seq as 12
 * hex digits. The rollout workflow thus maps an `installFinished` signal to its seq without any
 * lookup and keeps its "finished" bookkeeping as a bitmap over seq (bounded, see workflows/rollout/seq-set.ts).
 */
export function installationIdFor(rolloutId: string, seq: number): string {
  return `${rolloutId.slice(0, 24).toLowerCase()}${seq.toString(16).padStart(12, '0')}`;
}

/** The seq of an installation id made by `installationIdFor` for this rollout, or undefined. */
export function installationSeq(rolloutId: string, installationId: string): number | undefined {
  const id = installationId.toLowerCase();
  if (id.length !== 36 || id.slice(0, 24) !== rolloutId.slice(0, 24).toLowerCase()) return undefined;
  const tail = id.slice(24);
  if (!/^[0-9a-f]{12}$/.test(tail)) return undefined;
  return Number.parseInt(tail, 16);
}
