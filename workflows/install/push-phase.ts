/**
 * The download-link path (R4–R6): a push ticket and an SMS / WAP push (in-house iOS: SMS with the
 * manifest link) or mark for installation, then the download before the ticket expires. An expired
 * ticket is pushed again with a new one, up to `maxPushAttempts`; then Installation failed.
 */
import { isCancellation, sleep } from '@temporalio/workflow';
import type { PushLinkInput, PushLinkResult } from '../../activities/install';
import { STATUS } from '../../domain/status';
import type { PushMethod } from '../messages';
import { DEFAULT_PUSH_SEND_MS, gateway, pushOnce, retryableSendFailure } from './activities';
import { arrived, endArrived } from './arrival';
import { failureMessage, formatDuration, METHOD_NAMES } from './format';
import type { Delivery, InstallJob } from './state';
import { verify } from './verification';

export async function pushPhase(job: InstallJob, delivery: Delivery, requested: PushMethod): Promise<never> {
  const { device, software, fileId } = delivery;
  const { installationId, timeouts, options } = job.input;
  const { state, reports, patches } = job;
  const pushSendMs = timeouts.pushSendMs ?? DEFAULT_PUSH_SEND_MS;
  let method = requested;
  if (method !== 'mark' && !device.msisdn && software.inHouseIos && patches.inHouseNeedsSms) {
    // R6: SMS with the manifest link only — never a plain link (issue 14)
    const reason = 'an in-house iOS app goes only by SMS push (R6) and the device has no MSISDN';
    job.note('error', reason);
    return job.finish(STATUS.installationFailed, reason);
  }
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
    // no push after a failure the device reported, none once the software is on the device (since the patches)
    if (patches.deviceFailureEndsDm && reports.postInstallFailure) return job.failByDeviceReport();
    if (arrived(job, software)) await endArrived(job, delivery, `before push ${attempt} of ${max}`);
    const push: PushLinkInput = {
      installationId,
      attempt,
      method,
      fileId,
      ticketLifetimeMs: timeouts.ticketLifetimeMs,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: software.inHouseIos,
      to: device.msisdn,
    };
    const summary = `${METHOD_NAMES[method]} ${attempt} of ${max}`;
    let sent: PushLinkResult;
    job.ticketsIssued = true;
    try {
      sent = patches.pushSendTimeout
        ? await sendUntil(job, summary, push, pushSendMs)
        : await gateway(job.atomic, 'pushDownloadLink', summary, [push]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      const why =
        err instanceof SendTimedOut
          ? `no send attempt succeeded within ${formatDuration(pushSendMs)} (push send timeout); last error: ${failureMessage(err.last)}`
          : failureMessage(err);
      job.note('error', `${METHOD_NAMES[method]} could not be sent: ${why}`);
      return job.finish(STATUS.installationFailed, `${METHOD_NAMES[method]} could not be sent: ${why}`);
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
    const got = await job.waitFor(
      () => reports.downloaded !== undefined || arrived(job, software),
      timeouts.ticketLifetimeMs,
      'the download',
    );
    if (got && reports.downloaded === undefined && arrived(job, software))
      await endArrived(job, delivery, `while waiting for the download of push ${attempt}`);
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

/** Every send attempt of a push failed until the push send timeout. */
class SendTimedOut extends Error {
  constructor(readonly last: unknown) {
    super('push send timeout');
  }
}

const FIRST_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Since the `install-push-send-timeout` patch: a push is sent again after each failure the gateway may
 * recover from (capped backoff: 5s, 10s, … 10 min; each failed attempt in the job's log, written by the
 * activity), until `sendMs` has passed — an SMS gateway outage of minutes or hours fails nothing. A
 * rejection no retry can fix ends at once; a cancellation takes effect between attempts.
 */
async function sendUntil(job: InstallJob, summary: string, push: PushLinkInput, sendMs: number): Promise<PushLinkResult> {
  const deadline = Date.now() + sendMs;
  let backoff = FIRST_BACKOFF_MS;
  for (let send = 1; ; send++) {
    try {
      return await pushOnce(job.atomic, send > 1 ? `${summary} (send attempt ${send})` : summary, { ...push, sendAttempt: send });
    } catch (err) {
      if (isCancellation(err) || !retryableSendFailure(err)) throw err;
      const left = deadline - Date.now();
      if (left <= 0) throw new SendTimedOut(err);
      await sleep(Math.min(backoff, left));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}
