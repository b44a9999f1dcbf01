/**
 * Verification (V2): a system-info sync reporting the job's version within `verificationMs` makes the
 * job `… – Verified`; none makes it Unknown status. A post-install failure reported meanwhile fails it.
 * Since the `install-cancel-keeps-arrived-software` patch a cancel (rollout cancelled) does not end this
 * wait: the software is already on the device, so the job keeps its status and still ends by its
 * verification or the verification timeout; the cancel is written to the log when it arrives.
 */
import { CancellationScope } from '@temporalio/workflow';
import { type InstallStatus, STATUS } from '../../domain/status';
import { formatDuration } from './format';
import type { Delivery, InstallJob } from './state';

export async function verify(job: InstallJob, { software }: Delivery, verified: InstallStatus): Promise<never> {
  const { reports } = job;
  const { verificationMs } = job.input.timeouts;
  const wait = () =>
    job.waitFor(() => reports.verifiedBy !== undefined, verificationMs, `a system-info sync reporting ${software.version}`);
  const ok = job.patches.cancelKeepsArrived ? await throughCancel(job, wait) : await wait();
  if (ok) {
    job.note('info', `the device reported ${software.name} ${reports.verifiedBy} at a system-info sync`);
    return job.finish(verified, `verified: the device reports version ${reports.verifiedBy}`);
  }
  if (reports.postInstallFailure) return job.failByDeviceReport();
  return job.finish(
    STATUS.unknownStatus,
    `no system-info sync reported ${software.name} ${software.version} within ${formatDuration(verificationMs)}` +
      (reports.lastReported !== undefined ? ` (last reported version: ${reports.lastReported})` : ' (no version reported)'),
  );
}

/** Runs the verification wait to its end whatever cancel arrives; a cancel is logged when it arrives. */
async function throughCancel(job: InstallJob, wait: () => Promise<boolean>): Promise<boolean> {
  const cancelled = CancellationScope.current().cancelRequested.then(
    () => false,
    () => true,
  );
  return job.atomic(async () => {
    const waiting = wait();
    const first = await Promise.race([waiting.then(() => 'done' as const), cancelled.then((c) => (c ? 'cancel' : 'done'))]);
    if (first === 'cancel') {
      job.note(
        'info',
        `cancel requested (the rollout was cancelled): the software has already reached the device, so the job keeps ${job.state.status} and ends by its verification or its timeout`,
      );
      await job.transition(null, { detail: 'cancel requested; the verification goes on' });
    }
    return waiting;
  });
}
