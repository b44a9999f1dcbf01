/**
 * What a device tells the server (D1, D2, D4, D5): its inventory (sync) and the phases of its jobs
 * (reports), each passed on to the install workflows as signals.
 * Devices queue both while offline (D5): a late sync never overwrites a newer inventory, and a
 * duplicate report is logged once and signalled once — once delivered: a repeat of a report whose
 * signal failed or had not completed when the device gave up waiting delivers it.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../infra/db';
import { downloadedSignal, downloadFailedSignal, sysinfoSyncedSignal } from '../workflows/messages';
import { notFound } from './errors';
import {
  addReportEntry,
  jobOfDevice,
  type MarkedJob,
  markedJobsOfDevice,
  markReportDelivered,
  openJobsOfDevice,
} from './installations/device-jobs';
import { installWorkflowIdOf } from './installations/jobs';
import { type Signaller, signalAll } from './signals';

export interface DeviceReportDeps {
  db: Db;
  signaller: Signaller;
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

/**
 * A sync (D1, D4): stores the inventory unless a newer one is stored, tells every open job of the
 * device (`sysinfoSynced`), and returns its Mark-for-installation jobs waiting for download.
 */
export async function syncInventory(
  { db, signaller }: DeviceReportDeps,
  deviceId: string,
  sync: InventorySync,
): Promise<{ inventoryStored: boolean; signalled: number; pending: MarkedJob[] }> {
  const at = clampToNow(sync.reportedAt);
  // Only a sync at least as recent as the stored one replaces the inventory (late syncs: D5).
  const updated = await db('devices')
    .where({ id: deviceId })
    .andWhere((q) => q.whereNull('last_sync_at').orWhere('last_sync_at', '<=', at))
    .update({
      installed: JSON.stringify(sync.installed),
      ...(sync.info != null ? { info: JSON.stringify(sync.info) } : {}),
      last_sync_at: at,
    })
    .returning('id');

  const workflowIds = (await openJobsOfDevice(db, deviceId)).map(installWorkflowIdOf);
  const { sent } = await signalAll(signaller, workflowIds, sysinfoSyncedSignal, {
    installed: sync.installed,
    at: at.toISOString(),
  });
  return { inventoryStored: updated.length > 0, signalled: sent, pending: await markedJobsOfDevice(db, deviceId) };
}

export interface JobReport {
  jobId: string;
  phase: 'download-begin' | 'download-end' | 'post-install';
  result: 'success' | 'failure';
  detail?: unknown;
  reportedAt?: string;
}

/**
 * The job's latest push link (attempt ≥ 1; 0 is the DM package link) was served to its last byte and
 * that completion was delivered to the workflow as `downloaded` (`download_signalled_at`: the
 * completion claims `downloaded_at` before it signals, and gives it back when the signal fails):
 * a download-end report adds nothing for the workflow.
 */
async function latestPushSignalled(db: Db, jobId: string): Promise<boolean> {
  const latest = await db('push_tickets')
    .where({ installation_id: jobId })
    .where((q) => q.whereNull('attempt').orWhere('attempt', '>', 0))
    .orderByRaw('coalesce(attempt, 0) desc, created_at desc')
    .first('download_signalled_at');
  return !!latest?.download_signalled_at;
}

/**
 * A report (D2) on one of the device's jobs (`not-found` for any other job): logged on the job;
 * download-end success → `downloaded` (unless the completed download of the job's latest push link
 * already signalled it), any failure → `downloadFailed`. `duplicate`: an earlier copy was delivered.
 */
export async function acceptReport(
  { db, signaller }: DeviceReportDeps,
  deviceId: string,
  report: JobReport,
): Promise<{ duplicate: boolean }> {
  const job = await jobOfDevice(db, report.jobId.toLowerCase(), deviceId);
  if (!job) throw notFound('job');
  const detail =
    report.detail === undefined || report.detail === null
      ? undefined
      : (typeof report.detail === 'string' ? report.detail : JSON.stringify(report.detail)).slice(0, 2000);
  const entryKey = `report:${report.phase}:${report.result}:${shortHash(`${detail ?? ''}|${report.reportedAt ?? ''}`)}`;
  const message =
    `device report: ${report.phase} ${report.result}` +
    (detail ? `: ${detail}` : '') +
    (report.reportedAt ? ` (reported at ${report.reportedAt})` : '');
  const workflowId = installWorkflowIdOf(job);
  // which workflow signal the report carries, if any
  const signal =
    report.phase === 'download-end' && report.result === 'success'
      ? () =>
          signaller.signal(workflowId, downloadedSignal, { at: clampToNow(report.reportedAt).toISOString(), source: 'report' })
      : report.result === 'failure'
        ? () =>
            signaller.signal(
              workflowId,
              downloadFailedSignal,
              detail === undefined ? { phase: report.phase } : { phase: report.phase, detail },
            )
        : undefined;
  // The entry is written first and kept; `signalled_at` says whether the workflow has it.
  const entry = await addReportEntry(db, { installationId: job.id, message, entryKey, delivered: !signal });
  // A repeat of a delivered report changes nothing. A repeat of one whose delivery failed, or is
  // still in flight (the device gave up waiting), delivers it: a second signal is harmless.
  const duplicate = !entry.isNew && (entry.signalledAt !== null || !signal);
  if (signal && !duplicate) {
    // a download-end report adds nothing when the download of the latest push link signalled
    if (!(report.phase === 'download-end' && (await latestPushSignalled(db, job.id)))) await signal();
    await markReportDelivered(db, entry.id);
  }
  return { duplicate };
}
