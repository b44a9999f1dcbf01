/**
 * A job's transitions and its log (`installation_log`, P2): every status change, fallback, retry,
 * error, push and device report. Entries are keyed per job (`entry_key` is unique per installation),
 * so a retried write — an activity retry, a repeated device report or delivery report — adds nothing.
 * A transition is one SQL statement: one round trip per install step (issue 17).
 */
import type { InstallStatus } from '../../domain/status';
import { type Db, PreparedStatement } from '../../infra/db';
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
  /**
   * Revoke every live ticket of the job in the same statement (a final transition, since the
   * `install-final-transition-revokes` patch); when some were, an `info` row "N download link(s)
   * revoked" follows the notes, before the status row.
   */
  revokeTickets?: boolean;
}

/** What a transition did: `written` false for a repeat; `revoked` (only when asked to revoke) the tickets revoked. */
export interface TransitionResult {
  written: boolean;
  revoked?: number;
}

/**
 * One statement (one round trip): the revoke when asked; the log rows in their order (notes, the
 * revoke note when tickets were revoked, the status row), inserted only for an existing job and each
 * once (ON CONFLICT on the entry key); the job row updated only when a log row was written or there
 * were none to write; and whether the job exists.
 */
const TRANSITION = new PreparedStatement<{ found: boolean; written: boolean; revoked: number }>(
  'install.transition',
  `
WITH job AS (
  SELECT id FROM installations WHERE id = :installationId::uuid
), revoked AS (
  UPDATE push_tickets SET revoked_at = now()
   WHERE :revoke::boolean AND installation_id = :installationId::uuid AND revoked_at IS NULL
     AND EXISTS (SELECT 1 FROM job)
  RETURNING 1
), revoke_count AS (
  SELECT count(*)::int AS n FROM revoked
), entries AS (
  SELECT e.ord, e.event, e.from_status, e.to_status, e.message, e.entry_key
    FROM jsonb_to_recordset(:entries::jsonb)
      AS e(ord int, event text, from_status text, to_status text, message text, entry_key text)
  UNION ALL
  SELECT :revokeOrd::int, 'info', NULL, NULL,
         r.n || ' download link' || CASE WHEN r.n > 1 THEN 's' ELSE '' END || ' revoked', :revokeKey::text
    FROM revoke_count r WHERE r.n > 0
), ins AS (
  INSERT INTO installation_log (installation_id, event, from_status, to_status, message, entry_key)
  SELECT job.id, e.event, e.from_status, e.to_status, e.message, e.entry_key
    FROM job CROSS JOIN entries e
   ORDER BY e.ord
  ON CONFLICT (installation_id, entry_key) DO NOTHING
  RETURNING 1
), upd AS (
  UPDATE installations SET
    updated_at = now(),
    workflow_id = COALESCE(:workflowId::text, workflow_id),
    method = CASE WHEN :setMethod::boolean THEN :method::text ELSE method END,
    detail = CASE WHEN :setDetail::boolean THEN :detail::text ELSE detail END,
    file_id = CASE WHEN :setFile::boolean THEN :fileId::uuid ELSE file_id END,
    status = CASE WHEN :setStatus::boolean THEN :status::text ELSE status END,
    final = CASE WHEN :setStatus::boolean THEN :final::boolean ELSE final END,
    started_at = CASE WHEN :setStatus::boolean THEN COALESCE(started_at, now()) ELSE started_at END,
    ended_at = CASE WHEN :setStatus::boolean THEN (CASE WHEN :final::boolean THEN now() END) ELSE ended_at END
   WHERE id = (SELECT id FROM job)
     AND (EXISTS (SELECT 1 FROM ins) OR NOT EXISTS (SELECT 1 FROM entries))
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM job) AS found,
       EXISTS (SELECT 1 FROM upd) AS written,
       (SELECT n FROM revoke_count) AS revoked`,
);

/**
 * One transition of the job: its log rows (notes, then the status change) and the job row, in one
 * statement. Idempotent: the rows are keyed `<seq>:<status>` / `<seq>.<i>:<event>`; when they are
 * already there (a retry, or an older attempt that committed) nothing is written again — in
 * particular a late stale attempt cannot overwrite a newer job row. A job that does not exist is
 * `not-found` (nothing written). With `revokeTickets`, the job's live tickets are revoked in the same
 * statement (their note keyed `<seq>.<notes>:info`, as when the workflow noted the revoke itself).
 */
export async function recordTransition(db: Db, input: TransitionInput): Promise<TransitionResult> {
  const notes = input.notes ?? [];
  const entries = [
    ...notes.map((n, i) => ({
      ord: i,
      event: n.event,
      from_status: null,
      to_status: null,
      message: n.message,
      entry_key: `${input.seq}.${i}:${n.event}`,
    })),
    ...(input.status
      ? [
          {
            ord: notes.length + 1,
            event: 'status',
            from_status: input.status.from,
            to_status: input.status.to,
            message: input.status.message ?? null,
            entry_key: `${input.seq}:${input.status.to}`,
          },
        ]
      : []),
  ];
  const rows = await TRANSITION.rows(db, {
    installationId: input.installationId,
    revoke: !!input.revokeTickets,
    entries: JSON.stringify(entries),
    revokeOrd: notes.length,
    revokeKey: `${input.seq}.${notes.length}:info`,
    workflowId: input.workflowId || null,
    setMethod: input.method !== undefined,
    method: input.method ?? null,
    setDetail: input.detail !== undefined,
    detail: input.detail ?? null,
    setFile: input.fileId !== undefined,
    fileId: input.fileId ?? null,
    setStatus: !!input.status,
    status: input.status?.to ?? null,
    final: !!input.status?.final,
  });
  const r = rows[0];
  if (!r?.found) throw notFound(`installation ${input.installationId}`);
  return input.revokeTickets ? { written: r.written, revoked: r.revoked } : { written: r.written };
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
