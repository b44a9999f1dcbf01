import type { ActivityDeps } from './deps';

export function createPurgeActivities({ db }: Pick<ActivityDeps, 'db'>) {
  return {
    /** Stamps `purged_at` on up to `batchSize` final jobs that ended before now − retention. Idempotent. */
    async purgeEndedJobs(input: { retentionMs: number; batchSize: number }): Promise<{ count: number }> {
      const result = await db.raw(
        `UPDATE installations SET purged_at = now()
          WHERE id IN (
            SELECT id FROM installations
             WHERE final AND purged_at IS NULL AND ended_at < now() - (? * interval '1 millisecond')
             LIMIT ? FOR UPDATE SKIP LOCKED)`,
        [input.retentionMs, input.batchSize],
      );
      return { count: result.rowCount ?? 0 };
    },
  };
}
