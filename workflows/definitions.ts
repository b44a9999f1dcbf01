/**
 * The messages of DeviceRollout's workflows: names, inputs, signals, queries and updates.
 * Shared by the workflows, the API (which signals/queries/updates them) and the tests — so it may
 * import only workflow-safe modules.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
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
