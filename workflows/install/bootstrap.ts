/**
 * The OMA DM bootstrap of a device that has none yet (R1, M2): Waiting for bootstrap, the bootstrap
 * sent, then its confirmation (the device's first authenticated DM session) within `bootstrapMs`.
 */
import { isCancellation } from '@temporalio/workflow';
import { STATUS } from '../../domain/status';
import { gateway } from './activities';
import { arrived, endArrived } from './arrival';
import { failureMessage, formatDuration } from './format';
import type { Delivery, InstallJob } from './state';

/** Bootstraps the device; the reason to fall back to the push method (R3), or undefined once confirmed. */
export async function bootstrap(job: InstallJob, delivery: Delivery): Promise<string | undefined> {
  const { installationId, timeouts } = job.input;
  const deviceId = delivery.device.id;
  await job.transition(STATUS.waitingForBootstrap, { detail: 'the device is not bootstrapped: sending the OMA DM bootstrap' });
  try {
    await gateway(job.atomic, 'dmBootstrap', 'send the OMA DM bootstrap', [{ installationId, deviceId }]);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return `the bootstrap could not be sent: ${failureMessage(err)}`;
  }
  job.note('info', 'OMA DM bootstrap sent');
  const { reports, patches } = job;
  const confirmed = await job.waitFor(
    () => reports.bootstrapConfirmed || arrived(job, delivery.software),
    timeouts.bootstrapMs,
    'the bootstrap confirmation',
  );
  if (!reports.bootstrapConfirmed) {
    if (arrived(job, delivery.software)) await endArrived(job, delivery, 'while waiting for the bootstrap');
    // a failure the device reported is what happened: no fallback, no push (since the patch)
    if (patches.deviceFailureEndsDm && reports.postInstallFailure) return job.failByDeviceReport();
  }
  if (!confirmed) return `the bootstrap was not confirmed within ${formatDuration(timeouts.bootstrapMs)}`;
  job.note('info', 'bootstrap confirmed by the device');
  return undefined;
}
