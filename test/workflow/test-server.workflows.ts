/**
 * Test-only workflow bundle entry of test/workflow/test-server.test.ts: a workflow that continues as
 * new in the same workflow task as a local activity the test holds open, so that a query can arrive
 * while that task is in flight.
 */
import { condition, continueAsNew, defineQuery, defineSignal, proxyLocalActivities, setHandler } from '@temporalio/workflow';

export const goSignal = defineSignal('go');
export const runQuery = defineQuery<number>('run');

const { holdWorkflowTask } = proxyLocalActivities<{ holdWorkflowTask(): Promise<void> }>({
  startToCloseTimeout: '1 minute',
});

/** Run 1: on `go`, a local activity, then continue as new. Run 2: waits (the test terminates it). */
export async function continueOnSignalWorkflow(run: number): Promise<void> {
  let go = false;
  setHandler(runQuery, () => run);
  setHandler(goSignal, () => {
    go = true;
  });
  await condition(() => go);
  if (run > 1) return;
  await holdWorkflowTask();
  await continueAsNew<typeof continueOnSignalWorkflow>(run + 1);
}
