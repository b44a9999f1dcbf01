/**
 * Ticket links (R5, D3): the ticket behind a `/d/:ticket` request — its file, software and job — and
 * the first completed download of a push link, which tells the install workflow `downloaded` exactly
 * once however often the link is fetched (queued in the signal outbox, services/signal-outbox.ts).
 */
import { createHash } from 'node:crypto';
import type { Db } from '../infra/db';
import { downloadedSignal } from '../workflows/messages';
import { installWorkflowIdOf } from './installations/jobs';
import { enqueueSignals } from './signal-outbox';

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

/** The ticket with its file, software and job (expired or revoked ones too: the caller says which). */
export async function findTicket(db: Db, ticket: string): Promise<TicketRow | undefined> {
  return (await db('push_tickets as t')
    .join('software_files as f', 'f.id', 't.file_id')
    .join('software as s', 's.id', 'f.software_id')
    .join('installations as i', 'i.id', 't.installation_id')
    .where('t.ticket', ticket)
    .first(
      't.ticket',
      't.installation_id',
      't.attempt',
      db.raw('t.expires_at <= now() as expired'),
      't.revoked_at',
      'f.file_name',
      'f.format',
      'f.size',
      'f.sha256',
      'f.storage_path',
      'f.created_at as file_created_at',
      's.name',
      's.version',
      's.in_house_ios',
      's.bundle_id',
      'i.rollout_id',
      'i.device_id',
      'i.workflow_id',
    )) as TicketRow | undefined;
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

export interface DownloadDeps {
  db: Db;
  /** The local dispatcher, told when a signal was queued (without it: its next poll). */
  outbox?: { nudge(): void };
}

/**
 * The ticket's file was served to its last byte. The first completion marks the ticket and queues
 * `downloaded` for the workflow, in one transaction; later completions do nothing. `signalled`: the
 * signal was queued (not when the device's download-end report of this link came first and queued
 * it). The DM package link (attempt 0) is only marked: the DM install reports its own result
 * (dmInstallResult), and a `downloaded` signal would be taken for the push path's download.
 */
export async function completeDownload(
  { db, outbox }: DownloadDeps,
  row: TicketRow,
): Promise<{ first: boolean; signalled: boolean }> {
  const outcome = await db.transaction(async (trx) => {
    const marked = await trx('push_tickets')
      .where({ ticket: row.ticket })
      .whereNull('downloaded_at')
      .update({ downloaded_at: trx.fn.now() })
      .returning('downloaded_at');
    const at = marked[0]?.downloaded_at as Date | undefined;
    if (!at) return { first: false, signalled: false };
    if (row.attempt === 0) return { first: true, signalled: false };
    const [queued] = await enqueueSignals(trx, [
      {
        workflowId: installWorkflowIdOf(row),
        signal: downloadedSignal,
        args: [{ ticket: row.ticket, at: new Date(at).toISOString(), source: 'download' }],
        dedupeKey: downloadedDedupeKey(row.installation_id, row),
      },
    ]);
    return { first: true, signalled: !!queued };
  });
  if (outcome.signalled) outbox?.nudge();
  return outcome;
}
