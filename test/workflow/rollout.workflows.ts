/**
 * Test-only workflow bundle entry of the rollout workflow tests: the real `rolloutWorkflow` and a
 * FAKE `installWorkflow` (registered under the real one's name), whose outcome is encoded in the
 * device id: `<name>:<minutes until final>:<ok|fail|unk|verified|stubborn|manual>[:hold]` — e.g. `d0042:90:fail`.
 * On cancellation it reports `Cancelled`, like the real one. `manual`: cancelled, it reports `Cancelled`
 * only when the test sends it the `release` signal (a stubborn child the test lets go, no timer to skip);
 * with `:hold` it then stays open until a second `release`. (The rollout starts its children by
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
  let releases = 0;
  setHandler(releaseSignal, () => {
    releases++;
  });
  const manual = input.deviceId.split(':')[2] === 'manual';
  const { delayMs, result } = fakeOutcome(input.deviceId);
  let r: InstallResult = { installationId: input.installationId, deviceId: input.deviceId, ...result };
  try {
    await sleep(delayMs);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    if (input.deviceId.endsWith(':stubborn')) {
      // a child that does not react to cancellation: it finishes in its own time
      await CancellationScope.nonCancellable(() => sleep(delayMs));
    } else if (manual) {
      // a child that ends its cancellation when the test says so (the `release` signal)
      await CancellationScope.nonCancellable(() => condition(() => releases >= 1));
      r = { installationId: input.installationId, deviceId: input.deviceId, status: STATUS.cancelled, reason: 'cancelled' };
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
  if (input.deviceId.endsWith(':hold')) {
    if (manual) {
      // (cancelled already: its hold must not end at once as a cancelled workflow)
      await CancellationScope.nonCancellable(() => condition(() => releases >= 2, '300 days'));
    } else await condition(() => releases >= 1, '300 days');
  }
  return r;
}
