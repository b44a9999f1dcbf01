/**
 * A device's jobs as its own requests see them (D1–D5, the DM session): the open ones to tell of a
 * sync or a bootstrap, the one a report or a DM result names, the Mark-for-installation jobs waiting
 * for the device, and the device reports in the job's log (`signalled_at`: its signal queued with it).
 */
import type { SignalDefinition } from '@temporalio/common';
import { type Db, PreparedStatement } from '../../infra/db';
import { type AuthedDevice, authedDeviceOf, CONTACT_OF_TOKEN_SQL, DEVICE_OF_TOKEN_SQL, deviceTokenHash } from '../devices';
import { installWorkflowIdSql } from './jobs';

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

/**
 * The Mark-for-installation jobs waiting for download of the device `deviceId` (an SQL expression),
 * each with its newest live ticket (D1), in job id order: a query for a statement of the caller's
 * (the sync's, with the inventory it stores).
 */
export const markedJobsOfDeviceSql = (deviceId: string): string => `SELECT DISTINCT ON (i.id)
         i.id AS job_id, s.name, s.version, f.file_name, f.format, f.size, f.sha256, t.ticket, t.expires_at
    FROM installations i
    JOIN push_tickets t ON t.installation_id = i.id
    JOIN software_files f ON f.id = t.file_id
    JOIN software s ON s.id = f.software_id
   WHERE i.device_id = ${deviceId} AND i.method = 'mark' AND i.status = 'Waiting for download' AND i.final = false
     AND t.revoked_at IS NULL AND t.expires_at > now()
   ORDER BY i.id ASC, t.created_at DESC`;

/** The signal a report carries, but for its workflow (the job's): see `addReportOfDevice`. */
export interface ReportSignal {
  signal: SignalDefinition<any[], string>;
  args: unknown[];
  /** `downloaded`: one per push link, keyed as `downloadedDedupeKey` keys the job's latest link (none without one). */
  perPushLink: boolean;
}

/**
 * One statement: the device of the token (`DEVICE_OF_TOKEN_SQL`, its contact recorded); the job if it
 * is that device's, with its latest push link (attempt ≥ 1, or unnumbered); its entry in the log
 * unless one with the entry key is (`signalled_at`: queued with it); and, only when the entry is new
 * and the report carries a signal, the signal queued for the job's install workflow
 * (`installWorkflowIdOf`: its `workflow_id`, else `installWorkflowId(rollout, device)`), a
 * `downloaded` one under `downloadedDedupeKey(job, link)` (services/downloads.ts).
 */
const REPORT_OF_DEVICE = new PreparedStatement<
  { id: string | null; external_id: string | null; platform: string | null } & {
    found: boolean;
    is_new: boolean;
    queued: boolean;
  }
>(
  'device.report',
  `WITH ${DEVICE_OF_TOKEN_SQL}, ${CONTACT_OF_TOKEN_SQL}, job AS (
     SELECT i.id, ${installWorkflowIdSql('i')} AS workflow_id,
            t.attempt, t.ticket
       FROM installations i
       LEFT JOIN LATERAL (
         SELECT attempt, ticket FROM push_tickets
          WHERE installation_id = i.id AND (attempt IS NULL OR attempt > 0)
          ORDER BY coalesce(attempt, 0) DESC, created_at DESC LIMIT 1) t ON true
      WHERE i.id = :id AND i.device_id = (SELECT id FROM device)
   ), entry AS (
     INSERT INTO installation_log (installation_id, event, message, entry_key, signalled_at)
     SELECT id, 'report', :message, :entryKey, now() FROM job
     ON CONFLICT (installation_id, entry_key) DO NOTHING
     RETURNING 1
   ), queued AS (
     INSERT INTO signal_outbox (workflow_id, signal, args, dedupe_key)
     SELECT j.workflow_id, :signal::text, :args::jsonb,
            CASE WHEN :perPushLink::boolean AND j.ticket IS NOT NULL
                 THEN 'downloaded:' || j.id::text || ':'
                      || coalesce(j.attempt::text, 't' || left(encode(sha256(convert_to(j.ticket, 'UTF8')), 'hex'), 16))
            END
       FROM job j
      WHERE :signal::text IS NOT NULL AND EXISTS (SELECT 1 FROM entry)
     ON CONFLICT (dedupe_key) DO NOTHING
     RETURNING 1
   )
   SELECT d.id, d.external_id, d.platform,
          EXISTS (SELECT 1 FROM job) AS found, EXISTS (SELECT 1 FROM entry) AS is_new, EXISTS (SELECT 1 FROM queued) AS queued
     FROM (SELECT 1) one LEFT JOIN device d ON true`,
);

/**
 * A device's report, by its token, on the job with that id (a device can only report on its own
 * jobs), in one statement with the device's authentication: logged once per entry key and, when the
 * entry is new, its signal queued with it (the entry and its signal are durable together). Returns
 * the device (undefined: the token is no device's, nothing written), whether the job is the device's,
 * whether this call wrote the entry, and whether it queued the signal (false also when a row with the
 * signal's dedupe key exists).
 */
export async function addReportOfDevice(
  db: Db,
  r: { jobId: string; deviceToken: string; message: string; entryKey: string; signal?: ReportSignal },
): Promise<{ device: AuthedDevice | undefined; found: boolean; isNew: boolean; queued: boolean }> {
  const [row] = await REPORT_OF_DEVICE.rows(db, {
    tokenHash: deviceTokenHash(r.deviceToken),
    id: r.jobId,
    message: r.message,
    entryKey: r.entryKey,
    signal: r.signal?.signal.name ?? null,
    args: r.signal ? JSON.stringify(r.signal.args) : null,
    perPushLink: r.signal?.perPushLink ?? false,
  });
  return {
    device: row ? authedDeviceOf(row) : undefined,
    found: !!row?.found,
    isNew: !!row?.is_new,
    queued: !!row?.queued,
  };
}
