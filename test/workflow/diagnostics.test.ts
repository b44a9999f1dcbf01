import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundTripWorkflow } from '../../workflows/diagnostics';
import { createTestWorker, createTimeSkippingEnv } from '../helpers/time-skipping';

describe('roundTripWorkflow on the time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('runs the activity with its workflow id and returns the row id', async () => {
    const calls: unknown[] = [];
    const { worker, taskQueue } = await createTestWorker(env, {
      async recordDiagnostic(input: { workflowId: string; note: string }) {
        calls.push(input);
        return { id: '42' };
      },
    });
    const result = await worker.runUntil(
      env.client.workflow.execute(roundTripWorkflow, { taskQueue, workflowId: 'diagnostics/t1', args: ['hello'] }),
    );
    expect(result).toEqual({ id: '42' });
    expect(calls).toEqual([{ workflowId: 'diagnostics/t1', note: 'hello' }]);
  });

  it('skips time: a workflow sleeping a week completes at once', async () => {
    const started = Date.now();
    const { worker, taskQueue } = await createTestWorker(env, {
      async recordDiagnostic() {
        return { id: '1' };
      },
    });
    await worker.runUntil(async () => {
      await env.sleep('7 days');
    });
    expect(taskQueue).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
