/**
 * Temporal Schedules owned by DeviceRollout, created idempotently at start-up (worker and npm start):
 * a second creation finds the schedule and brings it to the configured spec instead of failing.
 */
import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from './config';

export const PURGE_SCHEDULE_ID = 'purge-installed-jobs';

export async function ensurePurgeSchedule(client: Client, config: Config): Promise<'created' | 'updated'> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'purgeInstalledJobsWorkflow',
    workflowId: 'purge-installed-jobs',
    taskQueue: config.taskQueue,
    args: [{ retentionMs: config.installedRetentionMs }],
  };
  const spec = { calendars: [{ hour: config.purgeHourUtc, minute: 0, comment: 'daily purge of the Installed table' }] };
  const policies: { overlap: ScheduleOverlapPolicy; catchupWindow: Duration } = {
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '1 day',
  };
  try {
    await client.schedule.create({ scheduleId: PURGE_SCHEDULE_ID, spec, action, policies });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(PURGE_SCHEDULE_ID).update((prev) => ({ ...prev, spec, action, policies }));
    return 'updated';
  }
}
