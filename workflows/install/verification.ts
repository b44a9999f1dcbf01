/**
 * Verification (V2): a system-info sync reporting the job's version within `verificationMs` makes the
 * job `… – Verified`; none makes it Unknown status. A post-install failure reported meanwhile fails it.
 */
import { type InstallStatus, STATUS } from '../../domain/status';
import { formatDuration } from './format';
import type { Delivery, InstallJob } from './state';

export async function verify(job: InstallJob, { software }: Delivery, verified: InstallStatus): Promise<never> {
  const { reports } = job;
  const { verificationMs } = job.input.timeouts;
  const ok = await job.waitFor(
    () => reports.verifiedBy !== undefined,
    verificationMs,
    `a system-info sync reporting ${software.version}`,
  );
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
