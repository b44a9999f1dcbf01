/**
 * The download-link path (R4–R6): a push ticket and an SMS / WAP push (in-house iOS: SMS with the
 * manifest link) or mark for installation, then the download before the ticket expires. An expired
 * ticket is pushed again with a new one, up to `maxPushAttempts`; then Installation failed.
 */
import { isCancellation } from '@temporalio/workflow';
import type { PushLinkResult } from '../../activities/install';
import { STATUS } from '../../domain/status';
import type { PushMethod } from '../messages';
import { gateway } from './activities';
import { failureMessage, formatDuration, METHOD_NAMES } from './format';
import type { Delivery, InstallJob } from './state';
import { verify } from './verification';

export async function pushPhase(job: InstallJob, delivery: Delivery, requested: PushMethod): Promise<never> {
  const { device, software, fileId } = delivery;
  const { installationId, timeouts, options } = job.input;
  const { state, reports } = job;
  let method = requested;
  if (method !== 'mark' && !device.msisdn) {
    job.note('fallback', `${METHOD_NAMES[method]} needs an MSISDN and the device has none: marked for installation instead`);
    method = 'mark';
  }
  state.method = method;
  const max = Math.max(1, Math.floor(options.maxPushAttempts));
  for (let attempt = 1; attempt <= max; attempt++) {
    state.pushAttempts = attempt;
    if (attempt > 1) {
      job.note('retry', `the link of push ${attempt - 1} expired without a download: push ${attempt} of ${max} with a new link`);
    }
    let sent: PushLinkResult;
    try {
      sent = await gateway('pushDownloadLink', `${METHOD_NAMES[method]} ${attempt} of ${max}`, [
        {
          installationId,
          attempt,
          method,
          fileId,
          ticketLifetimeMs: timeouts.ticketLifetimeMs,
          softwareName: software.name,
          softwareVersion: software.version,
          inHouseIos: software.inHouseIos,
          to: device.msisdn,
        },
      ]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      job.note('error', `${METHOD_NAMES[method]} could not be sent: ${failureMessage(err)}`);
      return job.finish(STATUS.installationFailed, `${METHOD_NAMES[method]} could not be sent: ${failureMessage(err)}`);
    }
    const validity = `link valid for ${formatDuration(timeouts.ticketLifetimeMs)}`;
    if (method === 'mark') {
      job.note('push', `marked for installation (${validity}): the device gets the link at its next sync`);
    } else {
      const what = sent.link === 'manifest' ? 'with the iOS manifest link' : 'with the download link';
      job.note(
        'push',
        `${METHOD_NAMES[method]} ${attempt} of ${max} sent to ${device.msisdn} ${what} (${validity}; ${sent.transport ?? 'unknown transport'}${sent.duplicate ? ', already sent before' : ''})`,
      );
    }
    await job.transition(state.status === STATUS.waitingForDownload ? null : STATUS.waitingForDownload, {
      detail: `${METHOD_NAMES[method]} ${attempt} of ${max}; ${validity}`,
    });
    const got = await job.waitFor(() => reports.downloaded !== undefined, timeouts.ticketLifetimeMs, 'the download');
    if (got) break;
    if (reports.postInstallFailure) return job.failByDeviceReport();
    if (attempt === max) {
      const last = reports.lastDownloadFailure ? `; last device report: ${reports.lastDownloadFailure}` : '';
      job.note(
        'error',
        `ticket expired: the link of push ${attempt} of ${max} was not downloaded within ${formatDuration(timeouts.ticketLifetimeMs)}`,
      );
      return job.finish(STATUS.installationFailed, `ticket expired: no download after ${max} push${max > 1 ? 'es' : ''}${last}`);
    }
  }
  job.note(
    'info',
    `the device downloaded the software (${reports.downloaded!.source === 'report' ? 'download-end report' : 'last byte served'})`,
  );
  if (software.kind !== 'dme-client') return job.finish(STATUS.downloaded, 'downloaded');
  await job.transition(STATUS.downloadedWaitingForVerification, { detail: 'downloaded; waiting for a system-info sync' });
  return verify(job, delivery, STATUS.downloadedVerified);
}
