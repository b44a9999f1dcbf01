/**
 * Reading the jobs and their logs: the Installing / Installed tables of a rollout (V3), a job and its
 * log (V4), a device's jobs (P2), the rollout report (P1), the job gauges of /metrics and the
 * simulator's view of a rollout.
 */
import { isUuid } from '../../domain/uuid';
import type { Db } from '../../infra/db';

/** A job's status and times (`installations as i`), as the rollout tables and a device's jobs show them. */
const JOB_STATE_COLUMNS = [
  'i.status',
  'i.final',
  'i.method',
  'i.detail',
  'i.workflow_id',
  'i.planned_at',
  'i.started_at',
  'i.ended_at',
  'i.updated_at',
] as const;

const JOB_COLUMNS = ['i.id', 'i.rollout_id', 'i.seq', 'i.device_id', 'd.external_id', 'd.platform', ...JOB_STATE_COLUMNS];

/** The columns of JOB_STATE_COLUMNS. */
export type JobState = Pick<
  JobRow,
  'status' | 'final' | 'method' | 'detail' | 'workflow_id' | 'planned_at' | 'started_at' | 'ended_at' | 'updated_at'
>;

export interface JobRow {
  id: string;
  rollout_id: string;
  seq: number;
  device_id: string;
  external_id: string;
  platform: string;
  status: string | null;
  final: boolean;
  method: string | null;
  detail: string | null;
  workflow_id: string | null;
  planned_at: Date | null;
  started_at: Date | null;
  ended_at: Date | null;
  updated_at: Date;
}

export interface LogRow {
  at: Date;
  event: string;
  from_status: string | null;
  to_status: string | null;
  message: string | null;
}

export type JobTable = 'installing' | 'installed';

/**
 * One page of a rollout's table, keyset-paged by seq: *installing* = every job not final yet (also
 * those waiting for their slot), *installed* = final jobs that ended within `retentionMs` and were not purged.
 */
export async function rolloutJobTable(
  db: Db,
  q: {
    rolloutId: string;
    table: JobTable;
    status?: string;
    /** Part of the device's external id (case-insensitive), or its id. */
    device?: string;
    afterSeq?: number;
    limit: number;
    retentionMs: number;
  },
): Promise<JobRow[]> {
  const query = db('installations as i')
    .join('devices as d', 'd.id', 'i.device_id')
    .where('i.rollout_id', q.rolloutId)
    .orderBy('i.seq')
    .limit(q.limit)
    .select(JOB_COLUMNS);
  if (q.table === 'installing') query.where('i.final', false);
  else {
    query
      .where('i.final', true)
      .whereNull('i.purged_at')
      .whereRaw("i.ended_at >= now() - (? * interval '1 millisecond')", [q.retentionMs]);
  }
  if (q.status !== undefined) query.where('i.status', q.status);
  const { device } = q;
  if (device !== undefined) {
    const pattern = `%${device.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query.where((w) => {
      w.where('d.external_id', 'ilike', pattern);
      if (isUuid(device)) w.orWhere('i.device_id', device);
    });
  }
  if (q.afterSeq !== undefined) query.where('i.seq', '>', q.afterSeq);
  return (await query) as JobRow[];
}

/** One job with its device's external id and platform. */
export async function findJob(db: Db, id: string): Promise<JobRow | undefined> {
  return (await db('installations as i').join('devices as d', 'd.id', 'i.device_id').where('i.id', id).first(JOB_COLUMNS)) as
    | JobRow
    | undefined;
}

/** A job's log, oldest first (at most `limit` entries). */
export async function jobLog(db: Db, id: string, limit: number): Promise<LogRow[]> {
  return db('installation_log')
    .where({ installation_id: id })
    .orderBy([
      { column: 'at', order: 'asc' },
      { column: 'id', order: 'asc' },
    ])
    .limit(limit)
    .select('at', 'event', 'from_status', 'to_status', 'message');
}

export interface DeviceJobRow extends Omit<JobRow, 'seq' | 'device_id' | 'external_id' | 'platform'> {
  rollout_state: string;
  software_id: string;
  software_name: string;
  software_version: string;
  log: LogRow[];
}

/** Every job of a device, newest rollout first, each with its rollout's state, its software and its log. */
export async function jobsOfDevice(db: Db, deviceId: string): Promise<DeviceJobRow[]> {
  const jobs = await db('installations as i')
    .join('rollouts as r', 'r.id', 'i.rollout_id')
    .join('software as s', 's.id', 'r.software_id')
    .where('i.device_id', deviceId)
    .orderBy([
      { column: 'r.created_at', order: 'desc' },
      { column: 'i.id', order: 'asc' },
    ])
    .select(
      'i.id',
      'i.rollout_id',
      ...JOB_STATE_COLUMNS,
      'r.state as rollout_state',
      's.id as software_id',
      's.name as software_name',
      's.version as software_version',
    );
  const logs = jobs.length
    ? await db('installation_log')
        .whereIn(
          'installation_id',
          jobs.map((j) => j.id),
        )
        .orderBy('id')
        .select('installation_id', 'at', 'event', 'from_status', 'to_status', 'message')
    : [];
  return jobs.map((j) => ({ ...j, log: logs.filter((l) => l.installation_id === j.id) }));
}

/** A job as the rollout report (P1) lists it. */
export interface ReportJobRow {
  seq: number;
  device_id: string;
  external_id: string;
  platform: string;
  status: string | null;
  final: boolean;
  detail: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  last_contact_at: Date | null;
  /** The job's last log message, for failed jobs without a detail. */
  last_message: string | null;
}

/** The rollout's jobs with seq > afterSeq, `limit` of them in seq order, with what the report needs of each. */
export async function reportJobsPage(db: Db, rolloutId: string, afterSeq: number, limit: number): Promise<ReportJobRow[]> {
  const { rows } = await db.raw(
    `SELECT i.seq, i.device_id, d.external_id, d.platform, i.status, i.final, i.detail, i.started_at,
            i.ended_at, d.last_contact_at,
            CASE WHEN i.status IN ('Installation failed', 'Unknown status') AND i.detail IS NULL THEN
              (SELECT l.message FROM installation_log l
                WHERE l.installation_id = i.id AND l.message IS NOT NULL ORDER BY l.id DESC LIMIT 1)
            END AS last_message
       FROM installations i JOIN devices d ON d.id = i.device_id
      WHERE i.rollout_id = ? AND i.seq > ?
      ORDER BY i.seq LIMIT ?`,
    [rolloutId, afterSeq, limit],
  );
  return rows;
}

/** Jobs per status over every rollout (started jobs only: /metrics). */
export async function statusCounts(db: Db): Promise<{ status: string; n: number }[]> {
  const rows = await db('installations').whereNotNull('status').groupBy('status').select('status').count({ n: '*' });
  return (rows as Array<Record<string, unknown>>).map((r) => ({ status: String(r.status), n: Number(r.n) }));
}

/** Of up to 100 rollouts in one of `states`: their jobs in total, started and final (/metrics). */
export async function rolloutJobGauges(
  db: Db,
  states: readonly string[],
): Promise<{ rolloutId: string; total: number; started: number; final: number }[]> {
  const rows = await db('installations as i')
    .join('rollouts as r', 'r.id', 'i.rollout_id')
    .whereIn('r.state', states)
    .groupBy('i.rollout_id')
    .select('i.rollout_id')
    .count({ total: '*' })
    .select(db.raw('count(*) filter (where i.status is not null) as started'))
    .select(db.raw('count(*) filter (where i.final) as final'))
    .limit(100);
  return (rows as Array<Record<string, unknown>>).map((r) => ({
    rolloutId: String(r.rollout_id),
    total: Number(r.total),
    started: Number(r.started),
    final: Number(r.final),
  }));
}

/** Jobs per status of a rollout, never-started ones under null (the simulator's view). */
export async function rolloutJobCounts(db: Db, rolloutId: string): Promise<{ status: string | null; n: number }[]> {
  return db('installations').where({ rollout_id: rolloutId }).groupBy('status').select('status', db.raw('count(*)::int as n'));
}

/** Every job of a rollout in seq order: id, device, status (the simulator's summary). */
export async function rolloutJobs(
  db: Db,
  rolloutId: string,
): Promise<{ id: string; deviceId: string; status: string | null; final: boolean }[]> {
  const rows = await db('installations')
    .where({ rollout_id: rolloutId })
    .orderBy('seq')
    .select('id', 'device_id', 'status', 'final');
  return rows.map((r: any) => ({ id: r.id, deviceId: r.device_id, status: r.status, final: !!r.final }));
}
