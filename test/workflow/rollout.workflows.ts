/**
 * Test-only workflow bundle entry of the rollout workflow tests: the real `rolloutWorkflow` and a
 * FAKE `installWorkflow` (registered under the real one's name), whose outcome is encoded in the
 * device id: `<name>:<minutes until final>:<ok|fail|unk|verified|stubborn>[:hold]` — e.g. `d0042:90:fail`.
 * On cancellation it reports `Cancelled`, like the real one. (The rollout starts its children by
 * reference to the real function; the child's workflow type is that function's name, which this bundle
 * serves with the fake.)
 *
 * `:hold` — after reporting its final status to the rollout, the child stays open until it gets the
 * `release` signal (or 300 days passed). Needed where the rollout continues as new: Temporal's Java time-skipping test
 * server stops skipping time for good once an ABANDONed child of a closed (continued-as-new) parent
 * run completes (sdk-java #1540, #2392); a real server has no such problem. The job is final when the
 * child reports it — which is what the rollout counts — the workflow closing afterwards is bookkeeping.
 */
import {
  CancellationScope,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { STATUS } from '../../domain/status';
import { type InstallInput, type InstallResult, installFinishedSignal } from '../../workflows/messages';

export { rolloutWorkflow } from '../../workflows/rollout';

export function fakeOutcome(deviceId: string): { delayMs: number; result: Omit<InstallResult, 'installationId' | 'deviceId'> } {
  const [, minutes, code] = deviceId.split(':');
  const delayMs = Number(minutes ?? 1) * 60_000;
  switch (code) {
    case 'fail':
      return { delayMs, result: { status: STATUS.installationFailed, reason: `download failed on ${deviceId}` } };
    case 'unk':
      return { delayMs, result: { status: STATUS.unknownStatus, reason: 'verification never came' } };
    case 'verified':
      return { delayMs, result: { status: STATUS.downloadedVerified } };
    default:
      return { delayMs, result: { status: STATUS.downloaded } };
  }
}

export const releaseSignal = defineSignal('release');

export async function installWorkflow(input: InstallInput): Promise<InstallResult> {
  let released = false;
  setHandler(releaseSignal, () => {
    released = true;
  });
  const { delayMs, result } = fakeOutcome(input.deviceId);
  let r: InstallResult = { installationId: input.installationId, deviceId: input.deviceId, ...result };
  try {
    await sleep(delayMs);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    if (input.deviceId.endsWith(':stubborn')) {
      // a child that does not react to cancellation: it finishes in its own time
      await CancellationScope.nonCancellable(() => sleep(delayMs));
    } else {
      r = { installationId: input.installationId, deviceId: input.deviceId, status: STATUS.cancelled, reason: 'cancelled' };
    }
  }
  await CancellationScope.nonCancellable(async () => {
    if (!input.parentWorkflowId) return;
    try {
      await getExternalWorkflowHandle(input.parentWorkflowId).signal(installFinishedSignal, r);
    } catch {
      // the rollout is gone (closed before this child reported, or not started yet)
    }
  });
  // (the 300-day bound: once the rollout is over, the test server fast-forwards to the next timer; this
  // one comes long before the 10-year default execution timeout, so a held child completes, not times out)
  if (input.deviceId.endsWith(':hold')) await condition(() => released, '300 days');
  return r;
}
