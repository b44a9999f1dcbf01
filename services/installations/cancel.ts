/**
 * `POST /installations/:id/cancel` (issue 14, SPEC G3): one job cancelled alone, by the rules of a
 * rollout's cancel (workflows/rollout/cancel.ts):
 * - a job not started yet ends `Cancelled` at once (should its rollout reach it later, its install
 *   ends at once on that final status and reports it, like a retired device's jobs);
 * - a running job's install workflow is cancelled (Temporal cancellation: it revokes its download links
 *   and records `Cancelled`; the rollout hears of it like of any final job);
 * - a job whose software has reached the device (… – Waiting for verification) is not cancelled: it
 *   ends by its verification or its timeout (409, as the rollout's cancel leaves it);
 * - a final job: 409.
 * The workflow is asked to cancel also when the job was marked before its start: an install whose start
 * mark was not written yet is cancelled too.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { STATUS } from '../../domain/status';
import type { Db } from '../../infra/db';
import { conflict, notFound, unavailable } from '../errors';
import { installWorkflowIdOf } from './jobs';

const ARRIVED: ReadonlySet<string> = new Set([STATUS.installedWaitingForVerification, STATUS.downloadedWaitingForVerification]);

export interface CancelledJob {
  id: string;
  rolloutId: string;
  deviceId: string;
  /** `not-started`: ended Cancelled now; `running`: its install was asked to cancel (it records Cancelled). */
  cancelled: 'not-started' | 'running';
  status: string | null;
}

export async function cancelJob(db: Db, temporal: Client, id: string, reason?: string): Promise<CancelledJob> {
  const job = await db('installations').where({ id }).first('id', 'rollout_id', 'device_id', 'status', 'final', 'workflow_id');
  if (!job) throw notFound('installation');
  if (job.final) throw conflict(`the job has ended (${job.status})`);
  if (ARRIVED.has(job.status ?? '')) {
    throw conflict(
      `the software has reached the device (${job.status}): the job is not cancelled, it ends by its verification or its timeout`,
    );
  }
  const message = `cancelled alone by an operator before this install started${reason ? `: ${reason}` : ''}`;
  const marked = await db.raw(
    `WITH c AS (
       UPDATE installations
          SET status = ?, final = true, ended_at = COALESCE(ended_at, now()), detail = ?, updated_at = now()
        WHERE id = ? AND started_at IS NULL AND status IS NULL AND NOT final
       RETURNING id)
     INSERT INTO installation_log (installation_id, event, from_status, to_status, message, entry_key)
     SELECT id, 'status', NULL, ?, ?, 'job-cancelled' FROM c
     ON CONFLICT (installation_id, entry_key) DO NOTHING`,
    [STATUS.cancelled, message, id, STATUS.cancelled, message],
  );
  const notStarted = (marked.rowCount ?? 0) > 0;
  if (!notStarted) {
    // who asked and why, before the install records Cancelled (its own message speaks of "the rollout")
    await db('installation_log')
      .insert({
        installation_id: id,
        event: 'info',
        message: `cancel requested by an operator for this job alone${reason ? `: ${reason}` : ''}`,
        entry_key: 'job-cancel-requested',
      })
      .onConflict(['installation_id', 'entry_key'])
      .ignore();
  }
  try {
    await temporal.workflow.getHandle(installWorkflowIdOf(job)).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) {
      if (notStarted) return done('not-started');
      throw unavailable('the workflow service is unavailable: the job was not cancelled; retry');
    }
    if (!notStarted) {
      const now = await db('installations').where({ id }).first('status', 'final');
      throw conflict(now?.final ? `the job has ended (${now.status})` : 'the job is not running: its install has ended');
    }
  }
  return done(notStarted ? 'not-started' : 'running');

  async function done(cancelled: CancelledJob['cancelled']): Promise<CancelledJob> {
    const now = await db('installations').where({ id }).first('status');
    return { id, rolloutId: job.rollout_id, deviceId: job.device_id, cancelled, status: now?.status ?? null };
  }
}
