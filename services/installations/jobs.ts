/**
 * The installation jobs' rows (`installations`) as the rollout and install workflows write them:
 * created with the rollout (seq 0 … n − 1 in planned order), paged by seq, marked planned / started /
 * cancelled in batches, counted per status. Every write is idempotent: an activity retry writes the
 * same values. The statements were tuned for 100,000-job rollouts (docs/performance.md).
 */
import type { Platform } from '../../domain/install-options';
import { STATUS } from '../../domain/status';
import type { Db } from '../../infra/db';
import { installationIdFor, installWorkflowId } from '../../workflows/messages';

/** Rows per INSERT when the devices are listed by id. */
const INSERT_CHUNK = 5_000;

/** The install workflow of a job: the id it was started with, else the one it gets. */
export const installWorkflowIdOf = (job: { workflow_id: string | null; rollout_id: string; device_id: string }): string =>
  job.workflow_id ?? installWorkflowId(job.rollout_id, job.device_id);

/**
 * `installWorkflowIdOf` as SQL over the `installations` row aliased `alias`, for a statement that
 * queues a signal for the job's workflow (the format of `installWorkflowId`).
 */
export const installWorkflowIdSql = (alias: string): string =>
  `coalesce(${alias}.workflow_id, 'install/' || ${alias}.rollout_id::text || '/' || ${alias}.device_id::text)`;

/** The devices of a new rollout: listed ids in the given order, or every device (of a platform) in registration order. */
export type JobSelection = { kind: 'ids'; ids: string[] } | { kind: 'filter'; platform?: Platform };

/**
 * Writes the jobs of a new rollout (inside the caller's transaction): ids `installationIdFor(rollout,
 * seq)`, the file each platform gets. One INSERT … SELECT for a filter, one INSERT per 5,000 ids.
 * Returns how many rows were written (devices deleted meanwhile are skipped).
 */
export async function insertRolloutJobs(
  trx: Db,
  rolloutId: string,
  selection: JobSelection,
  fileByPlatform: ReadonlyMap<Platform, string>,
): Promise<number> {
  const files = JSON.stringify([...fileByPlatform].map(([platform, file_id]) => ({ platform, file_id })));
  const prefix = installationIdFor(rolloutId, 0).slice(0, 24); // ids encode (rollout, seq): see installationIdFor
  let inserted = 0;
  if (selection.kind === 'ids') {
    for (let i = 0; i < selection.ids.length; i += INSERT_CHUNK) {
      const chunk = selection.ids.slice(i, i + INSERT_CHUNK).map((deviceId, k) => ({
        id: installationIdFor(rolloutId, i + k),
        device_id: deviceId,
        seq: i + k,
      }));
      const r = await trx.raw(
        `INSERT INTO installations (id, rollout_id, device_id, seq, file_id)
         SELECT v.id, ?, v.device_id, v.seq, f.file_id
           FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, device_id uuid, seq int)
           JOIN devices d ON d.id = v.device_id
           LEFT JOIN jsonb_to_recordset(?::jsonb) AS f(platform text, file_id uuid) ON f.platform = d.platform`,
        [rolloutId, JSON.stringify(chunk), files],
      );
      inserted += r.rowCount ?? 0;
    }
    return inserted;
  }
  // One statement for the whole fleet, numbered in registration order.
  const r = await trx.raw(
    `INSERT INTO installations (id, rollout_id, device_id, seq, file_id)
     SELECT (?::text || lpad(to_hex(n.seq), 12, '0'))::uuid, ?, n.id, n.seq, f.file_id
       FROM (SELECT d.id, d.platform, (row_number() OVER (ORDER BY d.created_at, d.id) - 1)::int AS seq
               FROM devices d WHERE (?::text IS NULL OR d.platform = ?::text)) n
       LEFT JOIN jsonb_to_recordset(?::jsonb) AS f(platform text, file_id uuid) ON f.platform = n.platform`,
    [prefix, rolloutId, selection.platform ?? null, selection.platform ?? null, files],
  );
  return r.rowCount ?? 0;
}

/** The jobs with seq ≥ fromSeq, in seq order. */
export async function rolloutJobsPage(
  db: Db,
  input: { rolloutId: string; fromSeq: number; limit: number },
): Promise<{ id: string; seq: number; deviceId: string }[]> {
  const rows = await db('installations')
    .where({ rollout_id: input.rolloutId })
    .andWhere('seq', '>=', input.fromSeq)
    .orderBy('seq')
    .limit(input.limit)
    .select('id', 'seq', 'device_id');
  return rows.map((r) => ({ id: r.id, seq: r.seq, deviceId: r.device_id }));
}

/** planned_at of a batch (one statement); jobs already started keep theirs. */
export async function markJobsPlanned(db: Db, rolloutId: string, items: { id: string; plannedAt: number }[]): Promise<void> {
  if (items.length === 0) return;
  const json = JSON.stringify(items.map((i) => ({ id: i.id, planned_at: new Date(i.plannedAt).toISOString() })));
  await db.raw(
    `UPDATE installations i SET planned_at = v.planned_at, updated_at = now()
       FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, planned_at timestamptz)
      WHERE i.id = v.id AND i.rollout_id = ? AND i.started_at IS NULL`,
    [json, rolloutId],
  );
}

/** started_at, workflow id and a log entry of a batch of started installs (one transaction). */
export async function markJobsStarted(
  db: Db,
  rolloutId: string,
  items: { id: string; workflowId: string; plannedAt: number; startedAt: number }[],
): Promise<void> {
  if (items.length === 0) return;
  const json = JSON.stringify(
    items.map((i) => ({
      id: i.id,
      workflow_id: i.workflowId,
      planned_at: new Date(i.plannedAt).toISOString(),
      started_at: new Date(i.startedAt).toISOString(),
      message: `install started by the rollout (planned ${new Date(i.plannedAt).toISOString()})`,
    })),
  );
  await db.transaction(async (trx) => {
    await trx.raw(
      `UPDATE installations i
          SET started_at = COALESCE(i.started_at, v.started_at),
              planned_at = v.planned_at,
              workflow_id = COALESCE(i.workflow_id, v.workflow_id),
              updated_at = now()
         FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, workflow_id text, planned_at timestamptz, started_at timestamptz)
        WHERE i.id = v.id AND i.rollout_id = ?`,
      [json, rolloutId],
    );
    await trx.raw(
      `INSERT INTO installation_log (installation_id, at, event, message, entry_key)
       SELECT v.id, v.started_at, 'info', v.message, 'rollout-start'
         FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, started_at timestamptz, message text)
         JOIN installations i ON i.id = v.id AND i.rollout_id = ?
       ON CONFLICT (installation_id, entry_key) DO NOTHING`,
      [json, rolloutId],
    );
  });
}

/**
 * Cancel: every job from `fromSeq` on that was never started becomes `Cancelled` (final),
 * with a log entry. One statement, whatever the size.
 */
export async function cancelJobsNotStarted(
  db: Db,
  input: { rolloutId: string; fromSeq: number; reason?: string },
): Promise<{ count: number }> {
  const message = `rollout cancelled before this install started${input.reason ? `: ${input.reason}` : ''}`;
  return db.transaction(async (trx) => {
    const r = await trx.raw(
      `WITH c AS (
         UPDATE installations
            SET status = ?, final = true, ended_at = COALESCE(ended_at, now()), detail = ?, updated_at = now()
          WHERE rollout_id = ? AND seq >= ? AND started_at IS NULL AND NOT final
         RETURNING id)
       INSERT INTO installation_log (installation_id, event, from_status, to_status, message, entry_key)
       SELECT id, 'status', NULL, ?, ?, 'rollout-cancel' FROM c
       ON CONFLICT (installation_id, entry_key) DO NOTHING`,
      [STATUS.cancelled, message, input.rolloutId, input.fromSeq, STATUS.cancelled, message],
    );
    return { count: r.rowCount ?? 0 };
  });
}

/**
 * A retired device's jobs that were never started become `Cancelled` (final), with a log entry: a
 * rollout that reaches one later starts its install, which ends at once on the final status.
 */
export async function cancelDeviceJobsNotStarted(db: Db, deviceId: string): Promise<{ count: number }> {
  const message = 'device retired before this install started';
  const r = await db.raw(
    `WITH c AS (
       UPDATE installations
          SET status = ?, final = true, ended_at = COALESCE(ended_at, now()), detail = ?, updated_at = now()
        WHERE device_id = ? AND started_at IS NULL AND NOT final
       RETURNING id)
     INSERT INTO installation_log (installation_id, event, from_status, to_status, message, entry_key)
     SELECT id, 'status', NULL, ?, ?, 'device-retired' FROM c
     ON CONFLICT (installation_id, entry_key) DO NOTHING`,
    [STATUS.cancelled, message, deviceId, STATUS.cancelled, message],
  );
  return { count: r.rowCount ?? 0 };
}

/** Status of some jobs of the rollout. */
export async function jobStatuses(
  db: Db,
  rolloutId: string,
  ids: string[],
): Promise<{ id: string; status: string | null; final: boolean }[]> {
  if (ids.length === 0) return [];
  return db('installations').where({ rollout_id: rolloutId }).whereIn('id', ids).select('id', 'status', 'final');
}

/** Jobs per status of a rollout (never-started jobs, status null, are not counted). */
export async function rolloutStatusCounts(db: Db, rolloutId: string): Promise<Record<string, number>> {
  const rows = await db('installations')
    .where({ rollout_id: rolloutId })
    .whereNotNull('status')
    .groupBy('status')
    .select('status', db.raw('count(*)::int as n'));
  return Object.fromEntries(rows.map((r: { status: string; n: number }) => [r.status, r.n]));
}
