/**
 * Ticket links (R5, D3): the ticket behind a `/d/:ticket` request — its file, software and job — and
 * the first completed download of a push link, which tells the install workflow `downloaded` exactly
 * once however often the link is fetched.
 */
import type { Db } from '../infra/db';
import { downloadedSignal } from '../workflows/messages';
import { installWorkflowIdOf } from './installations/jobs';
import type { Signaller, SignalOutcome } from './signals';

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

export interface DownloadDeps {
  db: Db;
  signaller: Signaller;
  log: (msg: string, err?: unknown) => void;
}

/**
 * The ticket's file was served to its last byte. The first completion marks the ticket and signals
 * the workflow; later completions do nothing. The DM package link (attempt 0) is only marked: the DM
 * install reports its own result (dmInstallResult), and a `downloaded` signal would be taken for the
 * push path's download. A signal that cannot be delivered unmarks the ticket: the next completed
 * fetch signals instead.
 */
export async function completeDownload(
  { db, signaller, log }: DownloadDeps,
  row: TicketRow,
): Promise<{ first: boolean; signalled: boolean }> {
  const marked = await db('push_tickets')
    .where({ ticket: row.ticket })
    .whereNull('downloaded_at')
    .update({ downloaded_at: db.fn.now() })
    .returning('downloaded_at');
  const at = marked[0]?.downloaded_at as Date | undefined;
  if (!at) return { first: false, signalled: false };
  if (row.attempt === 0) return { first: true, signalled: false };
  let outcome: SignalOutcome;
  try {
    outcome = await signaller.signal(installWorkflowIdOf(row), downloadedSignal, {
      ticket: row.ticket,
      at: new Date(at).toISOString(),
      source: 'download',
    });
  } catch (err) {
    await db('push_tickets').where({ ticket: row.ticket }).update({ downloaded_at: null });
    log('download completed but the workflow could not be signalled', err);
    return { first: false, signalled: false };
  }
  // from now on a download-end report of this link need not signal again (services/device-reports.ts);
  // best effort: without the stamp a report signals once more, which the workflow ignores
  if (outcome === 'sent')
    await db('push_tickets')
      .where({ ticket: row.ticket })
      .update({ download_signalled_at: db.fn.now() })
      .catch((err: unknown) => log('could not record that the download was signalled', err));
  return { first: true, signalled: true };
}
