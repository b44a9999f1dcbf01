/**
 * `GET /rollouts/:id/installations.csv` (issue 14): every job of a rollout as CSV — device external id,
 * platform, group (the job's `group_index` named by the rollout's groups; `all` without groups), status,
 * started, ended, reason — STREAMED: a server-side cursor (DECLARE … FETCH in
 * one repeatable-read transaction: one snapshot) hands the rows over 1,000 at a time and the next batch is
 * fetched only once the client has taken the previous one (the socket's backpressure: `write` false →
 * wait for `drain`). The API's memory stays flat whatever the rollout's size (docs/performance.md:
 * 100,000 rows); a client that goes away ends the cursor.
 */
import type { Writable } from 'node:stream';
import { CSV_COLUMNS, csvJobLine, csvLine, groupName, jobReason } from '../../domain/report-rows';
import type { Db } from '../../infra/db';
import type { RolloutRow } from './progress';
import { LAST_ERROR_JOIN, storedGroups } from './report';

/** Rows per FETCH. */
const BATCH = 1_000;

/** Resolves when the stream can take more (or has closed). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

/** Writes the CSV of the rollout's jobs (header first, seq order) to `out`; returns the rows written. */
export async function writeInstallationsCsv(db: Db, row: RolloutRow, out: Writable): Promise<number> {
  const groups = storedGroups(row);
  out.write(csvLine(CSV_COLUMNS));
  let written = 0;
  await db.transaction(
    async (trx) => {
      await trx.raw(
        `DECLARE installations_csv NO SCROLL CURSOR FOR
         SELECT i.seq, i.group_index, d.external_id, d.platform, i.status, i.final, i.detail, i.started_at, i.ended_at,
                le.message AS last_error
           FROM installations i JOIN devices d ON d.id = i.device_id
           ${LAST_ERROR_JOIN}
          WHERE i.rollout_id = ?
          ORDER BY i.seq`,
        [row.id],
      );
      for (;;) {
        if (out.destroyed) return;
        const { rows } = await trx.raw(`FETCH ${BATCH} FROM installations_csv`);
        let chunk = '';
        for (const r of rows as any[]) {
          chunk += csvJobLine({
            externalId: r.external_id,
            platform: r.platform,
            group: groupName(groups, r.group_index),
            status: r.status,
            startedAt: r.started_at,
            endedAt: r.ended_at,
            reason: jobReason({ status: r.status, final: r.final, detail: r.detail, lastError: r.last_error }),
          });
        }
        written += rows.length;
        if (chunk && !out.write(chunk)) await drained(out);
        if (rows.length < BATCH) return;
      }
    },
    { isolationLevel: 'repeatable read' },
  );
  return written;
}
