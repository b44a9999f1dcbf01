/**
 * A device's jobs as its own requests see them (D1–D5, the DM session): the open ones to tell of a
 * sync or a bootstrap, the one a report or a DM result names, the Mark-for-installation jobs waiting
 * for the device, and the device reports in the job's log (`signalled_at`: its signal queued with it).
 */
import { type Db, PreparedStatement } from '../../infra/db';
import { type OutboxSignal, outboxRow } from '../signal-outbox';

/** A job of the device: enough to find its install workflow (`installWorkflowIdOf`). */
export interface DeviceJob {
  id: string;
  rollout_id: string;
  device_id: string;
  status: string | null;
  workflow_id: string | null;
}

const DEVICE_JOB_COLUMNS = ['id', 'rollout_id', 'device_id', 'status', 'workflow_id'];

/** The device's jobs that are not final. */
export async function openJobsOfDevice(db: Db, deviceId: string): Promise<DeviceJob[]> {
  return db('installations').where({ device_id: deviceId, final: false }).select(DEVICE_JOB_COLUMNS);
}

/** The job with that id if it is the device's (a device can only report on its own jobs). */
export async function jobOfDevice(db: Db, id: string, deviceId: string): Promise<DeviceJob | undefined> {
  return db('installations')
    .where({ id, device_id: deviceId })
    .first(...DEVICE_JOB_COLUMNS);
}

/** A job's status and whether it is final. */
export async function jobState(db: Db, id: string): Promise<{ status: string | null; final: boolean } | undefined> {
  return db('installations').where({ id }).first('status', 'final');
}

/** A Mark-for-installation job waiting for the device, with its newest live download link. */
export interface MarkedJob {
  job_id: string;
  name: string;
  version: string;
  file_name: string;
  format: string;
  size: string | number;
  sha256: string;
  ticket: string;
  expires_at: Date;
}

/** The device's Mark-for-installation jobs waiting for download, each with its newest live ticket (D1). */
export async function markedJobsOfDevice(db: Db, deviceId: string): Promise<MarkedJob[]> {
  return db('installations as i')
    .join('push_tickets as t', 't.installation_id', 'i.id')
    .join('software_files as f', 'f.id', 't.file_id')
    .join('software as s', 's.id', 'f.software_id')
    .where({ 'i.device_id': deviceId, 'i.method': 'mark', 'i.status': 'Waiting for download', 'i.final': false })
    .whereNull('t.revoked_at')
    .where('t.expires_at', '>', db.fn.now())
    .distinctOn('i.id')
    .orderBy([
      { column: 'i.id', order: 'asc' },
      { column: 't.created_at', order: 'desc' },
    ])
    .select('i.id as job_id', 's.name', 's.version', 'f.file_name', 'f.format', 'f.size', 'f.sha256', 't.ticket', 't.expires_at');
}

/** A job of the device as its report sees it: with the job's latest push link (attempt ≥ 1, or unnumbered), if any. */
export interface ReportedJob extends DeviceJob {
  push_attempt: number | null;
  push_ticket: string | null;
}

const REPORTED_JOB = new PreparedStatement<ReportedJob>(
  'device.reported-job',
  `SELECT i.id, i.rollout_id, i.device_id, i.status, i.workflow_id, t.attempt AS push_attempt, t.ticket AS push_ticket
     FROM installations i
     LEFT JOIN LATERAL (
       SELECT attempt, ticket FROM push_tickets
        WHERE installation_id = i.id AND (attempt IS NULL OR attempt > 0)
        ORDER BY coalesce(attempt, 0) DESC, created_at DESC LIMIT 1) t ON true
    WHERE i.id = :id AND i.device_id = :deviceId`,
);

/** `jobOfDevice` with the job's latest push link, in one statement. */
export async function reportedJobOfDevice(db: Db, id: string, deviceId: string): Promise<ReportedJob | undefined> {
  const [job] = await REPORTED_JOB.rows(db, { id, deviceId });
  return job;
}

const REPORT_ENTRY_SQL = `INSERT INTO installation_log (installation_id, event, message, entry_key, signalled_at)
  VALUES (:installationId, 'report', :message, :entryKey, now())
  ON CONFLICT (installation_id, entry_key) DO NOTHING
  RETURNING id`;

const REPORT_ENTRY = new PreparedStatement<{ entries: number }>(
  'device.report-entry',
  `WITH entry AS (${REPORT_ENTRY_SQL}) SELECT count(*)::int AS entries FROM entry`,
);

const REPORT_ENTRY_AND_SIGNAL = new PreparedStatement<{ entries: number; queued: number }>(
  'device.report-entry-and-signal',
  `WITH entry AS (${REPORT_ENTRY_SQL}),
   queued AS (
     INSERT INTO signal_outbox (workflow_id, signal, args, dedupe_key)
     SELECT :workflowId, :signal, :args::jsonb, :dedupeKey FROM entry
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING id)
   SELECT (SELECT count(*) FROM entry)::int AS entries, (SELECT count(*) FROM queued)::int AS queued`,
);

/**
 * Logs a device report once per entry key and, when the entry is new, queues its signal with it
 * (one statement: the entry and its signal are durable together; `signalled_at`: queued). Returns
 * whether this call wrote the entry, and whether it queued the signal (false also when a row with
 * the signal's dedupe key exists).
 */
export async function addReportEntry(
  db: Db,
  e: { installationId: string; message: string; entryKey: string; signal?: OutboxSignal },
): Promise<{ isNew: boolean; queued: boolean }> {
  if (!e.signal) {
    const [r] = await REPORT_ENTRY.rows(db, { installationId: e.installationId, message: e.message, entryKey: e.entryKey });
    return { isNew: (r?.entries ?? 0) > 0, queued: false };
  }
  const row = outboxRow(e.signal);
  const [r] = await REPORT_ENTRY_AND_SIGNAL.rows(db, {
    installationId: e.installationId,
    message: e.message,
    entryKey: e.entryKey,
    workflowId: row.workflow_id,
    signal: row.signal,
    args: row.args,
    dedupeKey: row.dedupe_key,
  });
  return { isNew: (r?.entries ?? 0) > 0, queued: (r?.queued ?? 0) > 0 };
}
