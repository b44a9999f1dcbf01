/**
 * Ticket links (R5, D3): the ticket behind a `/d/:ticket` request — its file, software and job — and
 * the first completed download of a push link, which tells the install workflow `downloaded` exactly
 * once however often the link is fetched (queued in the signal outbox, services/signal-outbox.ts).
 */
import { createHash } from 'node:crypto';
import { type Db, PreparedStatement } from '../infra/db';
import { downloadedSignal } from '../workflows/messages';
import { contactOfDeviceSql } from './devices';
import { installWorkflowIdOf } from './installations/jobs';

export interface TicketRow {
  ticket: string;
  installation_id: string;
  /** 0: the DM package URL of the job (fetched by the device's DM client), 1…: push attempts. */
  attempt: number | null;
  expired: boolean;
  revoked_at: Date | null;
  file_name: string;
  format: string;
  size: string | number;
  sha256: string;
  storage_path: string;
  file_created_at: Date;
  name: string;
  version: string;
  in_house_ios: boolean;
  bundle_id: string | null;
  rollout_id: string;
  device_id: string;
  workflow_id: string | null;
}

/**
 * One statement: the ticket with its file, software and job, and — when the link is valid (neither
 * expired nor revoked) — its device's contact recorded: the device itself fetching its link, which
 * counts for the report's "not heard from" (P1) as its authenticated requests do.
 */
const FIND_TICKET = new PreparedStatement<TicketRow>(
  'download.ticket',
  `WITH found AS (
     SELECT t.ticket, t.installation_id, t.attempt, t.expires_at <= now() AS expired, t.revoked_at,
            f.file_name, f.format, f.size, f.sha256, f.storage_path, f.created_at AS file_created_at,
            s.name, s.version, s.in_house_ios, s.bundle_id, i.rollout_id, i.device_id, i.workflow_id
       FROM push_tickets t
       JOIN software_files f ON f.id = t.file_id
       JOIN software s ON s.id = f.software_id
       JOIN installations i ON i.id = t.installation_id
      WHERE t.ticket = :ticket
      LIMIT 1
   ), ${contactOfDeviceSql('SELECT device_id FROM found WHERE NOT expired AND revoked_at IS NULL')}
   SELECT * FROM found`,
);

/**
 * The ticket with its file, software and job (expired or revoked ones too: the caller says which);
 * a valid one is a contact of its device, recorded in the same statement.
 */
export async function findTicket(db: Db, ticket: string): Promise<TicketRow | undefined> {
  const [row] = await FIND_TICKET.rows(db, { ticket });
  return row;
}

/**
 * The dedupe key of the `downloaded` signal of one push link: its completed download and the
 * device's download-end report while it is the job's latest link queue the same key, so the
 * workflow gets one `downloaded` per link whichever comes first. (Unnumbered links, written by
 * older versions, are told apart by a hash of the ticket.)
 */
export function downloadedDedupeKey(installationId: string, link: { attempt: number | null; ticket: string }): string {
  const which = link.attempt ?? `t${createHash('sha256').update(link.ticket).digest('hex').slice(0, 16)}`;
  return `downloaded:${installationId}:${which}`;
}

/**
 * One statement: the ticket marked downloaded unless it was, and — for a push link (not the DM
 * package link) — its `downloaded` signal queued with it (`at`: the mark's time, as toISOString()).
 */
const COMPLETE_DOWNLOAD = new PreparedStatement<{ first: boolean; signalled: boolean }>(
  'download.complete',
  `WITH marked AS (
     UPDATE push_tickets SET downloaded_at = now() WHERE ticket = :ticket AND downloaded_at IS NULL
     RETURNING downloaded_at
   ), queued AS (
     INSERT INTO signal_outbox (workflow_id, signal, args, dedupe_key)
     SELECT :workflowId, :signal,
            jsonb_build_array(jsonb_build_object(
              'ticket', :ticket::text,
              'at', to_char(m.downloaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'source', 'download')),
            :dedupeKey
       FROM marked m WHERE :queue::boolean
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING 1
   )
   SELECT EXISTS (SELECT 1 FROM marked) AS first, EXISTS (SELECT 1 FROM queued) AS signalled`,
);

export interface DownloadDeps {
  db: Db;
  /** The local dispatcher, told when a signal was queued (without it: its next poll). */
  outbox?: { nudge(): void };
}

/**
 * The ticket's file was served to its last byte. The first completion marks the ticket and queues
 * `downloaded` for the workflow, in one statement; later completions do nothing. `signalled`: the
 * signal was queued (not when the device's download-end report of this link came first and queued
 * it). The DM package link (attempt 0) is only marked: the DM install reports its own result
 * (dmInstallResult), and a `downloaded` signal would be taken for the push path's download.
 */
export async function completeDownload(
  { db, outbox }: DownloadDeps,
  row: TicketRow,
): Promise<{ first: boolean; signalled: boolean }> {
  const [r] = await COMPLETE_DOWNLOAD.rows(db, {
    ticket: row.ticket,
    queue: row.attempt !== 0,
    workflowId: installWorkflowIdOf(row),
    signal: downloadedSignal.name,
    dedupeKey: downloadedDedupeKey(row.installation_id, row),
  });
  const outcome = { first: !!r?.first, signalled: !!r?.signalled };
  if (outcome.signalled) outbox?.nudge();
  return outcome;
}
