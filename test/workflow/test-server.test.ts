/**
 * What the tests rely on from Temporal's Java time-skipping test server and its environment
 * (test/helpers/time-skipping.ts). A query that reaches the test server while a workflow task is in
 * flight waits for the next workflow task of that run; when the task in flight ends the run with
 * continue-as-new there is none, and the query is only given up at its deadline — which the SDK's
 * client does not set. The rollout tests query while stray signals make the rollout continue as new.
 */
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTimeSkippingEnv } from '../helpers/time-skipping';
import { continueOnSignalWorkflow, goSignal, runQuery } from './test-server.workflows';

describe('the time-skipping test environment', () => {
  let env: TestWorkflowEnvironment;
  let code: string;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
    ({ code } = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'test-server.workflows.ts'),
      logger: { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never,
    }));
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('answers a query that arrives while the workflow task in flight continues the run as new (from the new run)', async () => {
    let taskHeld!: () => void;
    const held = new Promise<void>((resolve) => {
      taskHeld = resolve;
    });
    let releaseTask!: () => void;
    const released = new Promise<void>((resolve) => {
      releaseTask = resolve;
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: 'query-during-continue-as-new',
      workflowBundle: { code },
      activities: {
        async holdWorkflowTask() {
          taskHeld();
          await released;
        },
      },
    });
    const answer = await worker.runUntil(async () => {
      const h = await env.client.workflow.start(continueOnSignalWorkflow, {
        taskQueue: 'query-during-continue-as-new',
        workflowId: 'query-during-continue-as-new',
        args: [1],
      });
      try {
        expect(await h.query(runQuery)).toBe(1);
        await h.signal(goSignal);
        await held; // the workflow task that will continue as new is in flight
        const query = h.query(runQuery);
        await new Promise((resolve) => setTimeout(resolve, 1_000)); // the server holds the query for that task
        releaseTask();
        return await Promise.race([
          query,
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('the query was not answered within 60 s')), 60_000),
          ),
        ]);
      } finally {
        await h.terminate('test over').catch(() => undefined);
      }
    });
    expect(answer).toBe(2);
  });
});
