/**
 * How an install job ends: the rollout is told its final result (`installFinished`); a cancelled job
 * (rollout cancelled) has its download links revoked and ends Cancelled; an activity that gave up
 * makes it Installation failed.
 */
import { type ActivityFailure, getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { STATUS } from '../../domain/status';
import { type InstallResult, installFinishedSignal } from '../messages';
import { failureMessage } from './format';
import type { InstallJob } from './state';

/**
 * Tells the rollout this job is final. Never cancellable: a job that ends just as its rollout is
 * cancelled must still report, or the rollout would wait out its cancel grace period for it.
 */
export function notifyParent(job: InstallJob, r: InstallResult): Promise<void> {
  const parent = job.input.parentWorkflowId;
  return job.atomic(async () => {
    if (!parent) return;
    try {
      await getExternalWorkflowHandle(parent).signal(installFinishedSignal, r);
    } catch (err) {
      log.warn('could not signal the rollout (gone?)', { parent, error: failureMessage(err) });
    }
  });
}

/** The rollout was cancelled: links revoked, Cancelled recorded, the rollout told (the caller rethrows). */
export function cleanUpCancelled(job: InstallJob): Promise<void> {
  return job.atomic(async () => {
    const reason = 'the rollout was cancelled';
    if (job.patches.finalTransitionRevokes) {
      // one activity: the links revoked and Cancelled recorded together
      job.state.waitingFor = undefined;
      job.state.until = undefined;
      await job.transition(STATUS.cancelled, { message: reason, revokeTickets: true });
    } else {
      const { revoked } = await job.db('revokePushTickets', 'revoke download links', [
        { installationId: job.input.installationId },
      ]);
      job.state.waitingFor = undefined;
      job.state.until = undefined;
      if (revoked > 0) job.note('info', `${revoked} download link${revoked > 1 ? 's' : ''} revoked`);
      await job.transition(STATUS.cancelled, { message: reason });
    }
    await notifyParent(job, job.result(STATUS.cancelled, reason));
  });
}

/** An activity gave up (its retries are spent): Installation failed, and the rollout is told. */
export async function failOnActivityError(job: InstallJob, err: ActivityFailure): Promise<InstallResult> {
  const reason = `error: ${failureMessage(err)}`;
  job.note('error', reason);
  await job.finalTransition(STATUS.installationFailed, reason, job.patches.revokeWhenFinal && job.ticketsIssued);
  const r = job.result(STATUS.installationFailed, reason);
  await notifyParent(job, r);
  return r;
}
