/**
 * A job's transitions and its log (`installation_log`, P2): every status change, fallback, retry,
 * error, push and device report. Entries are keyed per job (`entry_key` is unique per installation),
 * so a retried write — an activity retry, a repeated device report or delivery report — adds nothing.
 */
import type { InstallStatus } from '../../domain/status';
import type { Db } from '../../infra/db';
import { notFound } from '../errors';

export type LogEvent = 'status' | 'fallback' | 'retry' | 'error' | 'report' | 'push' | 'info';
export type DeliveryMethod = 'dm' | 'sms' | 'wap' | 'mark';

export interface TransitionInput {
  installationId: string;
  /** The workflow's transition counter: makes the log rows' entry keys. */
  seq: number;
  workflowId?: string;
  /** Log rows written before the status change (fallback, push, retry, error, report, info). */
  notes?: { event: LogEvent; message: string }[];
  status?: { from: InstallStatus | null; to: InstallStatus; final: boolean; message?: string };
  method?: DeliveryMethod | null;
  /** Current details of the job (shown in lists); null clears. */
  detail?: string | null;
  fileId?: string | null;
}

/**
 * One transition of the job: its log rows (notes, then the status change) and the job row, in one
 * transaction. Idempotent: the rows are keyed `<seq>:<status>` / `<seq>.<i>:<event>`; when they are
 * already there (a retry, or an older attempt that committed) nothing is written again — in
 * particular a late stale attempt cannot overwrite a newer job row. A job that does not exist is
 * `not-found` (nothing written).
 */
export async function recordTransition(db: Db, input: TransitionInput): Promise<{ written: boolean }> {
  const entries = [
    ...(input.notes ?? []).map((n, i) => ({
      event: n.event,
      from_status: null,
      to_status: null,
      message: n.message,
      entry_key: `${input.seq}.${i}:${n.event}`,
    })),
    ...(input.status
      ? [
          {
            event: 'status',
            from_status: input.status.from,
            to_status: input.status.to,
            message: input.status.message ?? null,
            entry_key: `${input.seq}:${input.status.to}`,
          },
        ]
      : []),
  ];
  return db.transaction(async (trx) => {
    let written = false;
    for (const e of entries) {
      const rows = await trx('installation_log')
        .insert({ installation_id: input.installationId, ...e })
        .onConflict(['installation_id', 'entry_key'])
        .ignore()
        .returning('id');
      if (rows.length > 0) written = true;
    }
    if (!written && entries.length > 0) return { written: false };
    const update: Record<string, unknown> = { updated_at: trx.fn.now() };
    if (input.workflowId) update.workflow_id = input.workflowId;
    if (input.method !== undefined) update.method = input.method;
    if (input.detail !== undefined) update.detail = input.detail;
    if (input.fileId !== undefined) update.file_id = input.fileId;
    if (input.status) {
      update.status = input.status.to;
      update.final = input.status.final;
      update.started_at = trx.raw('coalesce(started_at, now())');
      update.ended_at = input.status.final ? trx.fn.now() : null;
    }
    const n = await trx('installations').where({ id: input.installationId }).update(update);
    if (n === 0) throw notFound(`installation ${input.installationId}`);
    return { written: true };
  });
}

export interface LogEntry {
  installationId: string;
  event: LogEvent;
  message: string;
  /** Unique per job: a second entry with the same key is not written. */
  entryKey: string;
  /** When it happened (default: now). */
  at?: Date | string;
}

/** Adds one entry to a job's log, once per entry key. */
export async function addLogEntry(db: Db, e: LogEntry): Promise<void> {
  await db('installation_log')
    .insert({
      installation_id: e.installationId,
      event: e.event,
      message: e.message,
      entry_key: e.entryKey,
      ...(e.at ? { at: e.at } : {}),
    })
    .onConflict(['installation_id', 'entry_key'])
    .ignore();
}
