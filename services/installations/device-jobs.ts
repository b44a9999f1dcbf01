/**
 * A device's jobs as its own requests see them (D1–D5, the DM session): the open ones to tell of a
 * sync or a bootstrap, the one a report or a DM result names, the Mark-for-installation jobs waiting
 * for the device, and the device reports in the job's log (`signalled_at`: delivered to the workflow).
 */
import type { Db } from '../../infra/db';

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

/**
 * Logs a device report once per entry key. `delivered`: the report carries no signal, so it counts
 * as delivered at once. Returns the entry and whether this call wrote it.
 */
export async function addReportEntry(
  db: Db,
  e: { installationId: string; message: string; entryKey: string; delivered: boolean },
): Promise<{ id: string | number; signalledAt: Date | null; isNew: boolean }> {
  const inserted = await db('installation_log')
    .insert({
      installation_id: e.installationId,
      event: 'report',
      message: e.message,
      entry_key: e.entryKey,
      signalled_at: e.delivered ? db.fn.now() : null,
    })
    .onConflict(['installation_id', 'entry_key'])
    .ignore()
    .returning('id');
  if (inserted.length > 0) return { id: inserted[0].id, signalledAt: null, isNew: true };
  const entry = await db('installation_log')
    .where({ installation_id: e.installationId, entry_key: e.entryKey })
    .first('id', 'signalled_at');
  return { id: entry.id, signalledAt: entry.signalled_at, isNew: false };
}

/** The report of this log entry has reached its workflow. */
export async function markReportDelivered(db: Db, entryId: string | number): Promise<void> {
  await db('installation_log').where({ id: entryId }).update({ signalled_at: db.fn.now() });
}
