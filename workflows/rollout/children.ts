/**
 * The rollout's children: one `installWorkflow` per job, with id `installWorkflowId(rollout, device)`,
 * ParentClosePolicy ABANDON and the search attributes RolloutId / DeviceId. A child that already exists
 * (WorkflowExecutionAlreadyStarted, e.g. after a reset) counts as started — no second install. Each
 * child signals `installFinished` when final.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { getExternalWorkflowHandle, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { DeviceId, RolloutId } from '../../domain/search-attributes';
import { INSTALL_REVISION, installWorkflow } from '../install';
import { type InstallInput, type InstallResult, installWorkflowId, type RolloutInput, rolloutWorkflowId } from '../messages';

/** A job of the rollout as paged from Postgres. */
export interface PageRow {
  id: string;
  seq: number;
  deviceId: string;
}

/**
 * Starts the install of one job; 'existing' when its workflow already existed. `watch`, if given, gets
 * the started child's result (it rejects when the child is terminated, times out or fails).
 */
export async function startInstall(
  input: RolloutInput,
  row: PageRow,
  watch?: (result: Promise<InstallResult>) => void,
): Promise<'started' | 'existing'> {
  const { rolloutId } = input;
  const args: InstallInput = {
    installationId: row.id,
    rolloutId,
    deviceId: row.deviceId,
    softwareId: input.softwareId,
    options: input.options,
    timeouts: input.timeouts,
    parentWorkflowId: rolloutWorkflowId(rolloutId),
    // every patch applied, no patch markers (the command is unchanged for replay: type and id)
    revision: INSTALL_REVISION,
  };
  try {
    const child = await startChild(installWorkflow, {
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
    watch?.(child.result());
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'existing';
    throw err;
  }
}

/** Asks one job's install to cancel; one already closed has reported (or will report) its result. */
export function cancelInstall(rolloutId: string, row: PageRow): Promise<void> {
  return getExternalWorkflowHandle(installWorkflowId(rolloutId, row.deviceId))
    .cancel()
    .catch(() => undefined);
}
