/**
 * Workflow tests on Temporal's time-skipping test server (real server, Java, cached by
 * infra/temporal-servers.ts). Each test file gets its own server; activities may be doubles here.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: inject('testServerPath') } },
  });
}

export async function createTestWorker(
  env: TestWorkflowEnvironment,
  activities: WorkerOptions['activities'],
  taskQueue = `wf-${randomUUID()}`,
): Promise<{ worker: Worker; taskQueue: string }> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    activities,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  return { worker, taskQueue };
}
