/**
 * The signal outbox (issue 17): a device request writes the signals it owes install workflows into
 * `signal_outbox` in its own statement or transaction (durable with the request's other writes) and
 * answers at once; each API process runs a dispatcher that delivers them through the `Signaller`.
 *  - Claims: due rows in id order, `FOR UPDATE SKIP LOCKED`, in batches (several API instances share
 *    one database); a row waits while an earlier row of its workflow is undelivered, so the rows of
 *    one workflow are delivered in order, different workflows in parallel.
 *  - Delivered (a closed or unknown workflow counts as delivered, D5): rows without a dedupe key are
 *    deleted at once; rows with one are kept `retentionMs` (the dedupe window, default 24 h), then
 *    deleted. A failure keeps the row: attempts + 1, last_error, and a capped exponential backoff.
 *  - Woken by `nudge()` after a local enqueue commits; polls (0.5 s) for other instances' rows and
 *    for retries. `stop()` waits for the batch in flight.
 */
import type { SignalDefinition } from '@temporalio/common';
import { type Db, PreparedStatement } from '../infra/db';
import type { Signaller } from './signals';

/** One signal for a workflow; `dedupeKey`: rows with the same key are one signal (the first wins). */
export interface OutboxSignal<Args extends any[] = any[]> {
  workflowId: string;
  signal: SignalDefinition<Args, string>;
  args: Args;
  dedupeKey?: string | null;
}

/** A signal as the row `signal_outbox` stores. */
export function outboxRow<Args extends any[]>(
  s: OutboxSignal<Args>,
): {
  workflow_id: string;
  signal: string;
  args: string;
  dedupe_key: string | null;
} {
  return { workflow_id: s.workflowId, signal: s.signal.name, args: JSON.stringify(s.args), dedupe_key: s.dedupeKey ?? null };
}

/**
 * Writes the signals (one statement; in the caller's transaction when given one). Returns, per
 * signal, whether it was new: false when a row with its dedupe key exists (or came earlier in `rows`).
 */
export async function enqueueSignals(db: Db, rows: readonly OutboxSignal[]): Promise<boolean[]> {
  if (rows.length === 0) return [];
  const inserted: { dedupe_key: string | null }[] = await db('signal_outbox')
    .insert(rows.map(outboxRow))
    .onConflict('dedupe_key')
    .ignore()
    .returning('dedupe_key');
  const newKeys = new Set(inserted.map((r) => r.dedupe_key).filter((k): k is string => k !== null));
  return rows.map((r) => {
    if (r.dedupeKey == null) return true;
    return newKeys.delete(r.dedupeKey); // a key repeated in `rows`: only its first is new
  });
}

/** How the outbox is waiting: rows not delivered, and how old the oldest is (operators, tests). */
export async function outboxBacklog(db: Db): Promise<{ pending: number; oldestAgeS: number | null }> {
  const r = await db('signal_outbox')
    .whereNull('delivered_at')
    .first(db.raw('count(*)::int as pending'), db.raw('extract(epoch from now() - min(created_at))::float8 as oldest_age_s'));
  return { pending: r?.pending ?? 0, oldestAgeS: r?.oldest_age_s ?? null };
}

/**
 * Due rows in id order, each `held` while an earlier row of its workflow is undelivered and not
 * claimed here (another instance has it, or it waits for a retry): order per workflow.
 */
const CLAIM = new PreparedStatement<ClaimedRow>(
  'outbox.claim',
  `WITH claimed AS (
     SELECT id FROM signal_outbox
      WHERE delivered_at IS NULL AND deliver_after <= now()
      ORDER BY id LIMIT :batchSize::int FOR UPDATE SKIP LOCKED)
   SELECT o.id, o.workflow_id, o.signal, o.args, o.attempts,
          EXISTS (SELECT 1 FROM signal_outbox e
                   WHERE e.workflow_id = o.workflow_id AND e.delivered_at IS NULL AND e.id < o.id
                     AND e.id NOT IN (SELECT id FROM claimed)) AS held
     FROM signal_outbox o JOIN claimed c ON c.id = o.id
    ORDER BY o.id`,
);

/** Delivered: rows without a dedupe key deleted, the others kept (marked) for the dedupe window. */
const MARK_DELIVERED = new PreparedStatement<never>(
  'outbox.delivered',
  `WITH gone AS (DELETE FROM signal_outbox WHERE id = ANY(:ids::bigint[]) AND dedupe_key IS NULL)
   UPDATE signal_outbox SET delivered_at = now() WHERE id = ANY(:ids::bigint[]) AND dedupe_key IS NOT NULL`,
);

export interface SignalDispatcherOptions {
  db: Db;
  signaller: Signaller;
  log: (msg: string, err?: unknown) => void;
  /** Rows claimed per batch (default 100). */
  batchSize?: number;
  /** How often the outbox is polled without a nudge (default 500 ms). */
  pollMs?: number;
  /** How long delivered rows with a dedupe key are kept (default 24 h). */
  retentionMs?: number;
  /** How often delivered rows past the retention are deleted (default 60 s). */
  cleanupEveryMs?: number;
  /** Retry delay after the n-th failure: baseMs · 2ⁿ⁻¹, at most maxMs (default 1 s … 60 s). */
  backoff?: { baseMs: number; maxMs: number };
}

export interface SignalDispatcher {
  /** A local enqueue committed: look now instead of at the next poll. */
  nudge(): void;
  /** Stops polling; resolves once the batch in flight (if any) is recorded. */
  stop(): Promise<void>;
}

interface ClaimedRow {
  id: string;
  workflow_id: string;
  signal: string;
  args: unknown[];
  attempts: number;
  held: boolean;
}

const DEFAULT_OUTBOX_RETENTION_MS = 24 * 3600_000;

/** `err`'s message and that of its cause (the Temporal error behind `unavailable`), for `last_error`. */
function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${message}${cause}`.slice(0, 2000);
}

export function startSignalDispatcher(opts: SignalDispatcherOptions): SignalDispatcher {
  const { db, signaller, log } = opts;
  const batchSize = opts.batchSize ?? 100;
  const pollMs = opts.pollMs ?? 500;
  const retentionMs = opts.retentionMs ?? DEFAULT_OUTBOX_RETENTION_MS;
  const cleanupEveryMs = opts.cleanupEveryMs ?? 60_000;
  const backoff = opts.backoff ?? { baseMs: 1_000, maxMs: 60_000 };
  const delayMs = (attempts: number) => Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempts - 1));

  let stopped = false;
  let nudged = false;
  let wake: (() => void) | undefined;
  // while Temporal or PostgreSQL is down every poll fails: one log line per 30 s, not two a second
  let quietUntil = 0;
  const warn = (msg: string, err: unknown) => {
    if (Date.now() < quietUntil) return;
    quietUntil = Date.now() + 30_000;
    log(msg, err);
  };

  /** One batch; true when it was full and delivered something (more rows may be due). */
  async function deliverBatch(): Promise<boolean> {
    return db.transaction(async (trx) => {
      const rows = await CLAIM.rows(trx, { batchSize });
      const byWorkflow = new Map<string, ClaimedRow[]>();
      for (const row of rows) {
        if (row.held) continue;
        const list = byWorkflow.get(row.workflow_id);
        if (list) list.push(row);
        else byWorkflow.set(row.workflow_id, [row]);
      }
      const delivered: string[] = [];
      const failed: { id: string; error: string; delay_s: number }[] = [];
      await Promise.all(
        [...byWorkflow.values()].map(async (list) => {
          for (const row of list) {
            try {
              // by name, as Temporal signals (the args brand exists only in types)
              const def = { type: 'signal', name: row.signal } as SignalDefinition<any[], string>;
              await signaller.signal(row.workflow_id, def, ...(row.args ?? []));
              delivered.push(row.id);
            } catch (err) {
              failed.push({ id: row.id, error: errorText(err), delay_s: delayMs(row.attempts + 1) / 1000 });
              return; // the later rows of this workflow wait for this one
            }
          }
        }),
      );
      if (delivered.length > 0) {
        await MARK_DELIVERED.rows(trx, { ids: delivered });
      }
      if (failed.length > 0) {
        await trx.raw(
          `UPDATE signal_outbox o
              SET attempts = o.attempts + 1, last_error = v.error,
                  deliver_after = clock_timestamp() + make_interval(secs => v.delay_s)
             FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, error text, delay_s float8)
            WHERE o.id = v.id`,
          [JSON.stringify(failed)],
        );
        warn(`signal outbox: ${failed.length} signal(s) not delivered, retried later`, failed[0]?.error);
      }
      return rows.length === batchSize && delivered.length > 0;
    });
  }

  /** Delivered rows past the dedupe window. */
  async function deleteExpired(): Promise<void> {
    await db('signal_outbox')
      .whereNotNull('delivered_at')
      .where('delivered_at', '<', db.raw('now() - make_interval(secs => ?)', [retentionMs / 1000]))
      .delete();
  }

  const loop = (async () => {
    let lastCleanup = 0;
    while (!stopped) {
      nudged = false;
      let more = false;
      try {
        more = await deliverBatch();
        if (Date.now() - lastCleanup >= cleanupEveryMs) {
          lastCleanup = Date.now();
          await deleteExpired();
        }
      } catch (err) {
        warn('signal outbox: dispatch failed', err);
      }
      if (stopped || more || nudged) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        timer.unref?.();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  })();

  return {
    nudge() {
      nudged = true;
      wake?.();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
