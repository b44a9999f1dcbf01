/**
 * Since the `install-arrival-ends-any-phase` patch: what the device or the DM engine reported ends
 * the job in whatever phase it is in — a DM success arriving late (after the fallback to the push
 * method), or a system-info sync already reporting the job's version (DME client, V2). No redundant
 * push is sent, and no ticket expiry fails a job whose software is on the device.
 */
import { STATUS } from '../../domain/status';
import type { Delivery, InstallJob } from './state';
import { verify } from './verification';

/** Whether a DM success or a sync reporting the version ends the job now (never before the patch). */
export function arrived(job: InstallJob, software: Delivery['software']): boolean {
  if (!job.patches.arrivalEndsAnyPhase) return false;
  const { reports } = job;
  return (
    (job.dmInstallSent && reports.dmResult?.success === true) ||
    (software.kind === 'dme-client' && reports.verifiedBy !== undefined)
  );
}

/**
 * Ends a job whose software `arrived` (never returns). Callers check `arrived` first: a job that goes
 * on then costs no promise here (each one a stack captured by the SDK's promise hook).
 */
export async function endArrived(job: InstallJob, delivery: Delivery, phase: string): Promise<never> {
  const { software } = delivery;
  const { reports, state } = job;
  const byDm = job.dmInstallSent || state.method === 'dm';
  if (software.kind === 'dme-client' && reports.verifiedBy !== undefined) {
    job.note('info', `the device reported ${software.name} ${reports.verifiedBy} at a system-info sync (${phase})`);
    return job.finish(
      byDm ? STATUS.installedVerified : STATUS.downloadedVerified,
      `verified: the device reports version ${reports.verifiedBy}`,
    );
  }
  const result = reports.dmResult!;
  const said = `${result.code !== undefined ? ` (code ${result.code})` : ''}${result.detail ? `: ${result.detail}` : ''}`;
  job.note('info', `DM install succeeded${said} (${phase})`);
  state.method = 'dm';
  if (software.kind !== 'dme-client') return job.finish(STATUS.installed, 'installed by OMA DM');
  await job.transition(STATUS.installedWaitingForVerification, { detail: 'installed by OMA DM; waiting for a system-info sync' });
  return verify(job, delivery, STATUS.installedVerified);
}
