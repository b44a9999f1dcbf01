/**
 * What a device tells the server (D1, D2, D4, D5): its inventory (sync) and the phases of its jobs
 * (reports), each passed on to the install workflows as signals — queued in the signal outbox with
 * the request's writes (services/signal-outbox.ts) and delivered by the API's dispatcher: a device
 * request never waits on Temporal, and a report taken while Temporal is unreachable is delivered
 * when it is back.
 * Devices queue both while offline (D5): a late sync never overwrites a newer inventory, and a
 * duplicate report is logged once and signalled once (the entry and its signal are written together).
 */
import { createHash } from 'node:crypto';
import { type Db, PreparedStatement } from '../infra/db';
import { downloadedSignal, downloadFailedSignal, sysinfoSyncedSignal } from '../workflows/messages';
import { type AuthedDevice, authedDeviceOf, CONTACT_VALUE_SQL, DEVICE_OF_TOKEN_SQL, deviceTokenHash } from './devices';
import { addReportOfDevice, type MarkedJob, markedJobsOfDeviceSql, type ReportSignal } from './installations/device-jobs';
import { installWorkflowIdSql } from './installations/jobs';

export interface DeviceReportDeps {
  db: Db;
  /** The local dispatcher, told when a signal was queued (without it: its next poll). */
  outbox?: { nudge(): void };
}

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Never in the future: a device clock running ahead must not pin its inventory. */
function clampToNow(iso: string | undefined): Date {
  const now = new Date();
  if (!iso) return now;
  const d = new Date(iso);
  return d > now ? now : d;
}

export interface InventorySync {
  installed: Record<string, string>;
  info?: Record<string, unknown> | null;
  /** When the device took this inventory (a queued sync carries its original time). */
  reportedAt?: string;
}

/** The sync's inventory is not older than the stored one (late syncs: D5). */
const FRESH_SYNC = '(last_sync_at IS NULL OR last_sync_at <= :at)';

/**
 * One statement: the device of the token (`DEVICE_OF_TOKEN_SQL`); its row written — the inventory
 * unless a newer one is stored (late syncs: D5), the contact when due (in the same UPDATE: a row is
 * updated once per statement); `sysinfoSynced` queued for every open job of the device (its install
 * workflow: `installWorkflowIdOf`, i.e. its `workflow_id`, else `installWorkflowId(rollout, device)`);
 * and the device's Mark-for-installation jobs waiting for download, one row each (their columns null
 * when there is none). The device's columns are null when the token is no device's.
 */
const SYNC = new PreparedStatement<
  { id: string | null; external_id: string | null; platform: string | null; stored: number; signalled: number } & {
    [K in keyof MarkedJob]: MarkedJob[K] | null;
  }
>(
  'device.sync',
  `WITH ${DEVICE_OF_TOKEN_SQL}, written AS (
     UPDATE devices
        SET installed = CASE WHEN ${FRESH_SYNC} THEN :installed::jsonb ELSE installed END,
            info = CASE WHEN ${FRESH_SYNC} THEN coalesce(:info::jsonb, info) ELSE info END,
            last_sync_at = CASE WHEN ${FRESH_SYNC} THEN :at ELSE last_sync_at END,
            last_contact_at = ${CONTACT_VALUE_SQL}
      WHERE id = (SELECT id FROM device) AND (${FRESH_SYNC} OR (SELECT stale FROM device))
     RETURNING last_sync_at = :at AS stored
   ), signalled AS (
     INSERT INTO signal_outbox (workflow_id, signal, args)
     SELECT ${installWorkflowIdSql('i')}, :signal::text, :args::jsonb
       FROM installations i WHERE i.device_id = (SELECT id FROM device) AND NOT i.final
     RETURNING 1
   ), pending AS (${markedJobsOfDeviceSql('(SELECT id FROM device)')})
   SELECT d.id, d.external_id, d.platform, n.stored, n.signalled, p.*
     FROM (SELECT (SELECT count(*) FROM written WHERE stored)::int AS stored, (SELECT count(*) FROM signalled)::int AS signalled) n
     LEFT JOIN device d ON true
     LEFT JOIN pending p ON true
    ORDER BY p.job_id`,
);

/**
 * A sync (D1, D4) by the device of the token, authenticated in the same statement: stores the
 * inventory unless a newer one is stored, queues `sysinfoSynced` for every open job of the device
 * (`signalled`: how many), and returns its Mark-for-installation jobs waiting for download. One
 * statement; undefined (nothing written) when the token is no device's.
 */
export async function syncInventory(
  { db, outbox }: DeviceReportDeps,
  deviceToken: string,
  sync: InventorySync,
): Promise<{ device: AuthedDevice; inventoryStored: boolean; signalled: number; pending: MarkedJob[] } | undefined> {
  const at = clampToNow(sync.reportedAt);
  const rows = await SYNC.rows(db, {
    tokenHash: deviceTokenHash(deviceToken),
    installed: JSON.stringify(sync.installed),
    info: sync.info != null ? JSON.stringify(sync.info) : null,
    at,
    signal: sysinfoSyncedSignal.name,
    args: JSON.stringify([{ installed: sync.installed, at: at.toISOString() }]),
  });
  const device = rows[0] ? authedDeviceOf(rows[0]) : undefined;
  if (!device) return undefined;
  const signalled = rows[0]?.signalled ?? 0;
  if (signalled > 0) outbox?.nudge();
  const pending = rows.flatMap(({ id: _i, external_id: _e, platform: _p, stored: _s, signalled: _n, ...job }) =>
    job.job_id === null ? [] : [job as MarkedJob],
  );
  return { device, inventoryStored: (rows[0]?.stored ?? 0) > 0, signalled, pending };
}

export interface JobReport {
  jobId: string;
  phase: 'download-begin' | 'download-end' | 'post-install';
  result: 'success' | 'failure';
  detail?: unknown;
  reportedAt?: string;
}

/**
 * A report (D2), by the device of the token (undefined: none), on one of its jobs (`found` false for
 * any other job, nothing written): logged on the job; download-end success → `downloaded`, any
 * failure → `downloadFailed`, queued with the entry.
 * `duplicate`: an earlier copy was accepted. One `downloaded` per push link: the report of the
 * job's latest push link and that link's completed download (services/downloads.ts) queue it under
 * the same dedupe key, so whichever comes first is delivered and the other is not.
 */
export async function acceptReport(
  { db, outbox }: DeviceReportDeps,
  deviceToken: string,
  report: JobReport,
): Promise<{ device: AuthedDevice; found: boolean; duplicate: boolean } | undefined> {
  const detail =
    report.detail === undefined || report.detail === null
      ? undefined
      : (typeof report.detail === 'string' ? report.detail : JSON.stringify(report.detail)).slice(0, 2000);
  const entryKey = `report:${report.phase}:${report.result}:${shortHash(`${detail ?? ''}|${report.reportedAt ?? ''}`)}`;
  const message =
    `device report: ${report.phase} ${report.result}` +
    (detail ? `: ${detail}` : '') +
    (report.reportedAt ? ` (reported at ${report.reportedAt})` : '');
  // which workflow signal the report carries, if any (the statement finds its workflow and dedupe key)
  const signal: ReportSignal | undefined =
    report.phase === 'download-end' && report.result === 'success'
      ? {
          signal: downloadedSignal,
          args: [{ at: clampToNow(report.reportedAt).toISOString(), source: 'report' }],
          perPushLink: true,
        }
      : report.result === 'failure'
        ? {
            signal: downloadFailedSignal,
            args: [detail === undefined ? { phase: report.phase } : { phase: report.phase, detail }],
            perPushLink: false,
          }
        : undefined;
  const { device, found, isNew, queued } = await addReportOfDevice(db, {
    jobId: report.jobId.toLowerCase(),
    deviceToken,
    message,
    entryKey,
    signal,
  });
  if (!device) return undefined;
  if (queued) outbox?.nudge();
  return { device, found, duplicate: !isNew };
}
