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
import { downloadedDedupeKey } from './downloads';
import { notFound } from './errors';
import {
  addReportEntry,
  type DeviceJob,
  type MarkedJob,
  markedJobsOfDevice,
  reportedJobOfDevice,
} from './installations/device-jobs';
import { installWorkflowIdOf } from './installations/jobs';
import { enqueueSignals, type OutboxSignal } from './signal-outbox';

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

/** The inventory stored unless a newer one is (late syncs: D5), and the device's open jobs. */
const STORE_INVENTORY = new PreparedStatement<{ stored: number; jobs: DeviceJob[] }>(
  'device.store-inventory',
  `WITH stored AS (
     UPDATE devices SET installed = :installed::jsonb, info = coalesce(:info::jsonb, info), last_sync_at = :at
      WHERE id = :deviceId AND (last_sync_at IS NULL OR last_sync_at <= :at)
     RETURNING id)
   SELECT (SELECT count(*) FROM stored)::int AS stored,
          coalesce((SELECT json_agg(json_build_object('id', i.id, 'rollout_id', i.rollout_id, 'device_id', i.device_id,
                                                      'status', i.status, 'workflow_id', i.workflow_id))
                      FROM installations i WHERE i.device_id = :deviceId AND NOT i.final), '[]'::json) AS jobs`,
);

/**
 * A sync (D1, D4): stores the inventory unless a newer one is stored, queues `sysinfoSynced` for
 * every open job of the device (`signalled`: how many), and returns its Mark-for-installation jobs
 * waiting for download. Three statements: store + open jobs, enqueue, pending jobs.
 */
export async function syncInventory(
  { db, outbox }: DeviceReportDeps,
  deviceId: string,
  sync: InventorySync,
): Promise<{ inventoryStored: boolean; signalled: number; pending: MarkedJob[] }> {
  const at = clampToNow(sync.reportedAt);
  const [stored] = await STORE_INVENTORY.rows(db, {
    installed: JSON.stringify(sync.installed),
    info: sync.info != null ? JSON.stringify(sync.info) : null,
    at,
    deviceId,
  });
  const open = stored?.jobs ?? [];
  const signals = open.map(
    (job): OutboxSignal => ({
      workflowId: installWorkflowIdOf(job),
      signal: sysinfoSyncedSignal,
      args: [{ installed: sync.installed, at: at.toISOString() }],
    }),
  );
  const [, pending] = await Promise.all([enqueueSignals(db, signals), markedJobsOfDevice(db, deviceId)]);
  if (signals.length > 0) outbox?.nudge();
  return { inventoryStored: (stored?.stored ?? 0) > 0, signalled: signals.length, pending };
}

export interface JobReport {
  jobId: string;
  phase: 'download-begin' | 'download-end' | 'post-install';
  result: 'success' | 'failure';
  detail?: unknown;
  reportedAt?: string;
}

/**
 * A report (D2) on one of the device's jobs (`not-found` for any other job): logged on the job;
 * download-end success → `downloaded`, any failure → `downloadFailed`, queued with the entry.
 * `duplicate`: an earlier copy was accepted. One `downloaded` per push link: the report of the
 * job's latest push link and that link's completed download (services/downloads.ts) queue it under
 * the same dedupe key, so whichever comes first is delivered and the other is not.
 */
export async function acceptReport(
  { db, outbox }: DeviceReportDeps,
  deviceId: string,
  report: JobReport,
): Promise<{ duplicate: boolean }> {
  const job = await reportedJobOfDevice(db, report.jobId.toLowerCase(), deviceId);
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
  const signal: OutboxSignal | undefined =
    report.phase === 'download-end' && report.result === 'success'
      ? {
          workflowId,
          signal: downloadedSignal,
          args: [{ at: clampToNow(report.reportedAt).toISOString(), source: 'report' }],
          dedupeKey:
            job.push_ticket === null ? null : downloadedDedupeKey(job.id, { attempt: job.push_attempt, ticket: job.push_ticket }),
        }
      : report.result === 'failure'
        ? {
            workflowId,
            signal: downloadFailedSignal,
            args: [detail === undefined ? { phase: report.phase } : { phase: report.phase, detail }],
          }
        : undefined;
  const { isNew, queued } = await addReportEntry(db, { installationId: job.id, message, entryKey, signal });
  if (queued) outbox?.nudge();
  return { duplicate: !isNew };
}
