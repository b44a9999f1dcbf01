/**
 * Seeing the signals an endpoint sends to an install workflow: a recorder holds the workflow id on a
 * task queue no worker polls, so the workflow never runs and its history records every signal.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { installWorkflow } from '../../workflows/install';

/** Starts a recorder under `workflowId` (an install workflow that never runs, hence no input). */
export function startSignalRecorder(client: Client, workflowId: string): Promise<WorkflowHandle<typeof installWorkflow>> {
  return client.workflow.start(installWorkflow, {
    taskQueue: `nobody-polls-${randomUUID()}`,
    workflowId,
    args: [] as unknown as Parameters<typeof installWorkflow>,
  });
}

/** The signals in the recorder's history, oldest first (only those called `name`, if given). */
export async function recordedSignals(h: WorkflowHandle, name?: string): Promise<{ name: string; arg: any }[]> {
  const history = await h.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a): a is NonNullable<typeof a> => !!a && (!name || a.signalName === name))
    .map((a) => ({
      name: a.signalName!,
      arg: a.input?.payloads?.[0] ? defaultPayloadConverter.fromPayload(a.input.payloads[0] as any) : undefined,
    }));
}
