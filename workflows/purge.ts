import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { purgeEndedJobs } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '10s', maximumAttempts: 10 },
});

/**
 * Run daily by the Temporal Schedule `purge-installed-jobs` (infra/schedules.ts): jobs that ended
 * more than `retentionMs` ago leave the Installed table (V3). Works in batches so one activity never
 * holds a long transaction; the logs stay.
 */
export async function purgeInstalledJobsWorkflow(input: {
  retentionMs: number;
  batchSize?: number;
}): Promise<{ purged: number }> {
  const batchSize = input.batchSize ?? 5_000;
  let purged = 0;
  for (;;) {
    const { count } = await purgeEndedJobs({ retentionMs: input.retentionMs, batchSize });
    purged += count;
    if (count < batchSize) break;
  }
  log.info('purged installed jobs', { purged, retentionMs: input.retentionMs });
  return { purged };
}
