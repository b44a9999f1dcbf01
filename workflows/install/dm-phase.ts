/**
 * The DM path (R1–R3): bootstrap when needed, Installing software, the DM install (package URL = ticket
 * link) and its result within `dmInstallMs`. Success ends the job (Installed) or goes on to verification
 * (DME client); any failure or timeout is the reason to fall back to the push method.
 */
import { isCancellation } from '@temporalio/workflow';
import { STATUS } from '../../domain/status';
import { gateway } from './activities';
import { arrived, endArrived } from './arrival';
import { bootstrap } from './bootstrap';
import { failureMessage, formatDuration } from './format';
import type { Delivery, InstallJob } from './state';
import { verify } from './verification';

/** Delivers by OMA DM: ends the job, or returns why it falls back. */
export async function dmPhase(job: InstallJob, delivery: Delivery): Promise<string> {
  const { device, software, fileId } = delivery;
  const { installationId, timeouts } = job.input;
  job.state.method = 'dm';
  if (!device.bootstrapped) {
    const fallback = await bootstrap(job, delivery);
    if (fallback !== undefined) return fallback;
  }
  await job.transition(STATUS.installingSoftware, { detail: `installing ${software.name} ${software.version} by OMA DM` });
  job.ticketsIssued = true;
  try {
    await gateway(job.atomic, 'dmInstall', `OMA DM install of ${software.name} ${software.version}`, [
      {
        installationId,
        deviceId: device.id,
        fileId,
        softwareName: software.name,
        softwareVersion: software.version,
        ticketLifetimeMs: timeouts.ticketLifetimeMs,
      },
    ]);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return `the DM install could not be started: ${failureMessage(err)}`;
  }
  job.dmInstallSent = true;
  const { reports, patches } = job;
  const answered = await job.waitFor(
    () => reports.dmResult !== undefined || arrived(job, software),
    timeouts.dmInstallMs,
    'the DM install result',
  );
  const result = reports.dmResult;
  if (!result) {
    if (arrived(job, software)) await endArrived(job, delivery, 'before the DM install result');
    // a failure the device reported is what happened: no fallback, no push (since the patch)
    if (patches.deviceFailureEndsDm && reports.postInstallFailure) return job.failByDeviceReport();
  }
  if (!answered || !result) return `no DM install result within ${formatDuration(timeouts.dmInstallMs)}`;
  const said = `${result.code !== undefined ? ` (code ${result.code})` : ''}${result.detail ? `: ${result.detail}` : ''}`;
  if (!result.success) return `the DM install failed${said}`;
  job.note('info', `DM install succeeded${said}`);
  if (software.kind !== 'dme-client') return job.finish(STATUS.installed, 'installed by OMA DM');
  await job.transition(STATUS.installedWaitingForVerification, { detail: 'installed by OMA DM; waiting for a system-info sync' });
  return verify(job, delivery, STATUS.installedVerified);
}
