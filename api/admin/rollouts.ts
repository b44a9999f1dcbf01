/**
 * Admin rollout API (SPEC "HTTP API", issue 4):
 *  - `POST /api/v1/rollouts` validates every field (zod schema of domain/rollout-request.ts, then the
 *    schedule rules, R1 via `dmApplicability`, R7 via `chooseFile` per selected platform), writes the
 *    rollout and ALL its installation rows (seq 0 … n − 1 in planned order) with one INSERT … SELECT
 *    (filter) or one INSERT per 5,000 ids, and starts the rollout workflow → 201 { id, workflowId };
 *  - `POST /api/v1/rollouts/preview` the same validation, nothing written or started → the planned start
 *    of every device (the first `limit` slots listed; the per-day counts always complete);
 *  - `GET /api/v1/rollouts/:id` state, counts, total, next start (the workflow's `progress` query while it
 *    runs; Postgres otherwise);
 *  - `POST /api/v1/rollouts/:id/pause|resume|cancel`, `PATCH /api/v1/rollouts/:id/schedule`: workflow
 *    Updates; a request the workflow rejects is a 409 (state conflict) or 400 (invalid schedule) with
 *    the workflow's reason.
 *
 * Planned order: `devices.ids` in the given order; `devices.filter` in registration order (created_at, id).
 */
import { randomUUID } from 'node:crypto';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import { Router } from 'express';
import { z } from 'zod';
import {
  chooseFile,
  dmApplicability,
  effectivePushMethod,
  type Platform,
  type SoftwareFacts,
} from '../../domain/install-options';
import {
  CancelRequestSchema,
  defaultFailureThreshold,
  parseDurationMs,
  type RolloutRequest,
  RolloutRequestSchema,
  ScheduleChangeSchema,
} from '../../domain/rollout-request';
import { normalizeSchedule, previewPlan, type Schedule, validateSchedule } from '../../domain/schedule';
import { RolloutId, RolloutState as RolloutStateKey } from '../../domain/search-attributes';
import type { Config } from '../../infra/config';
import type { Db } from '../../infra/db';
import {
  cancelRolloutUpdate,
  changeScheduleUpdate,
  installationIdFor,
  pauseRolloutUpdate,
  ROLLOUT_REJECTION,
  type RolloutInput,
  type RolloutProgress,
  type RolloutState,
  resumeRolloutUpdate,
  rolloutProgressQuery,
  rolloutWorkflowId,
} from '../../workflows/messages';
import type { ApiContext } from '../context';
import { ApiError, badRequest, conflict, notFound } from '../http/errors';
import { parse, pathId, queryValue } from '../http/validation';

/** Rows per INSERT when the devices are listed by id. */
const INSERT_CHUNK = 5_000;
/** How many device names an error message lists at most. */
const NAMED = 10;
export const PREVIEW_SLOTS_DEFAULT = 1_000;
export const PREVIEW_SLOTS_MAX = 10_000;
/** How long GET /rollouts/:id waits for the workflow's progress query before reading Postgres. */
const QUERY_TIMEOUT_MS = 5_000;

type Selection =
  | { kind: 'ids'; ids: string[]; platformOf: Map<string, Platform>; externalOf: Map<string, string> }
  | { kind: 'filter'; platform?: Platform };

export interface PreparedRollout {
  body: RolloutRequest;
  schedule: Schedule;
  software: { id: string; name: string; version: string };
  facts: SoftwareFacts;
  selection: Selection;
  total: number;
  /** Selected devices per platform. */
  platforms: Map<Platform, number>;
  /** The file each selected platform gets (R7). */
  fileByPlatform: Map<Platform, string>;
  push: 'sms' | 'wap' | 'mark';
}

const list = (xs: string[], total = xs.length) =>
  `${xs.slice(0, NAMED).join(', ')}${total > Math.min(xs.length, NAMED) ? ` and ${total - Math.min(xs.length, NAMED)} more` : ''}`;

/**
 * Everything `POST /rollouts` and `/rollouts/preview` check, in the order an admin fixes them:
 * the body's shape, the schedule, the software, the devices, R1, R7. Throws a 400 naming the field.
 */
export async function prepareRollout(
  db: Db | Parameters<Parameters<Db['transaction']>[0]>[0],
  raw: unknown,
  now: number,
): Promise<PreparedRollout> {
  const body = parse(RolloutRequestSchema, raw ?? {});

  const schedule = normalizeSchedule(body.schedule, now);
  const scheduleErrors = validateSchedule(schedule);
  if (scheduleErrors[0])
    throw badRequest(`schedule.${scheduleErrors[0].field}: ${scheduleErrors[0].message}`, `schedule.${scheduleErrors[0].field}`);

  const sw = await db('software')
    .where({ id: body.softwareId })
    .first('id', 'name', 'version', 'kind', 'platforms', 'in_house_ios');
  if (!sw) throw badRequest(`softwareId: no software with id ${body.softwareId}`, 'softwareId');
  const files = await db('software_files').where({ software_id: sw.id }).orderBy('created_at').select('id', 'format');
  const facts: SoftwareFacts = {
    kind: sw.kind,
    platforms: sw.platforms,
    inHouseIos: sw.in_house_ios,
    files: files.map((f: { id: string; format: string }) => ({ id: f.id, format: f.format })),
  };

  // The devices: which platforms, how many.
  const platforms = new Map<Platform, number>();
  let selection: Selection;
  let total: number;
  if (body.devices.ids) {
    const ids = body.devices.ids.map((i) => i.toLowerCase());
    const seen = new Set<string>();
    const dups: string[] = [];
    for (const i of ids) {
      if (seen.has(i)) dups.push(i);
      seen.add(i);
    }
    if (dups.length > 0) throw badRequest(`devices.ids: listed more than once: ${list([...new Set(dups)])}`, 'devices.ids');
    const rows: { id: string; platform: Platform; external_id: string }[] = await db('devices')
      .whereIn('id', ids)
      .select('id', 'platform', 'external_id');
    const platformOf = new Map(rows.map((r) => [r.id, r.platform]));
    const externalOf = new Map(rows.map((r) => [r.id, r.external_id]));
    const unknown = ids.filter((i) => !platformOf.has(i));
    if (unknown.length > 0) throw badRequest(`devices.ids: no such device(s): ${list(unknown)}`, 'devices.ids');
    for (const r of rows) platforms.set(r.platform, (platforms.get(r.platform) ?? 0) + 1);
    selection = { kind: 'ids', ids, platformOf, externalOf };
    total = ids.length;
  } else {
    const platform = body.devices.filter?.platform;
    const q = db('devices').groupBy('platform').select('platform', db.raw('count(*)::int as n'));
    if (platform) q.where({ platform });
    for (const r of (await q) as { platform: Platform; n: number }[]) platforms.set(r.platform, r.n);
    total = [...platforms.values()].reduce((a, b) => a + b, 0);
    if (total === 0) {
      throw badRequest(
        `devices.filter: no registered device matches${platform ? ` (platform ${platform})` : ''}`,
        platform ? 'devices.filter.platform' : 'devices.filter',
      );
    }
    selection = { kind: 'filter', platform };
  }

  const namesOf = async (p: Platform): Promise<string[]> => {
    if (selection.kind === 'ids') {
      return selection.ids
        .filter((i) => selection.platformOf.get(i) === p)
        .slice(0, NAMED)
        .map((i) => selection.externalOf.get(i) ?? i);
    }
    const rows = await db('devices').where({ platform: p }).orderBy(['created_at', 'id']).limit(NAMED).select('external_id');
    return rows.map((r: { external_id: string }) => r.external_id);
  };

  // R1: Use DM only where it applies — for the software, and on every selected platform.
  if (body.options.useDm) {
    const sw1 = dmApplicability(facts);
    if (!sw1.ok) throw badRequest(`options.useDm: ${sw1.reason}`, 'options.useDm');
    for (const [p, n] of platforms) {
      const a = dmApplicability(facts, p);
      if (!a.ok) {
        throw badRequest(
          `options.useDm: ${a.reason} — ${n} selected device(s): ${list(await namesOf(p), n)}; select those devices in a rollout without Use DM`,
          'options.useDm',
        );
      }
    }
  }

  // R7 (and platform support): a file for every selected device.
  const fileByPlatform = new Map<Platform, string>();
  const refused: string[] = [];
  for (const [p, n] of platforms) {
    const c = chooseFile(facts, p);
    if (c.ok) fileByPlatform.set(p, c.fileId);
    else refused.push(`${n} ${p} device(s) (${list(await namesOf(p), n)}): ${c.reason}`);
  }
  if (refused.length > 0) throw badRequest(`devices: cannot install on ${refused.join('; ')}`, 'devices');

  return {
    body,
    schedule,
    software: { id: sw.id, name: sw.name, version: sw.version },
    facts,
    selection,
    total,
    platforms,
    fileByPlatform,
    push: effectivePushMethod(facts, body.options.push),
  };
}

/** Writes the rollout and its installation rows (inside the caller's transaction). */
async function insertRollout(
  trx: Parameters<Parameters<Db['transaction']>[0]>[0],
  id: string,
  p: PreparedRollout,
  extra: { options: object; workflowId: string },
): Promise<number> {
  await trx('rollouts').insert({
    id,
    software_id: p.software.id,
    options: JSON.stringify(extra.options),
    schedule: JSON.stringify(p.schedule),
    notify: p.body.notify,
    state: 'scheduled',
    workflow_id: extra.workflowId,
    total: p.total,
  });
  const files = JSON.stringify([...p.fileByPlatform].map(([platform, file_id]) => ({ platform, file_id })));
  const prefix = installationIdFor(id, 0).slice(0, 24); // ids encode (rollout, seq): see installationIdFor
  let inserted = 0;
  if (p.selection.kind === 'ids') {
    for (let i = 0; i < p.selection.ids.length; i += INSERT_CHUNK) {
      const chunk = p.selection.ids.slice(i, i + INSERT_CHUNK).map((deviceId, k) => ({
        id: installationIdFor(id, i + k),
        device_id: deviceId,
        seq: i + k,
      }));
      const r = await trx.raw(
        `INSERT INTO installations (id, rollout_id, device_id, seq, file_id)
         SELECT v.id, ?, v.device_id, v.seq, f.file_id
           FROM jsonb_to_recordset(?::jsonb) AS v(id uuid, device_id uuid, seq int)
           JOIN devices d ON d.id = v.device_id
           LEFT JOIN jsonb_to_recordset(?::jsonb) AS f(platform text, file_id uuid) ON f.platform = d.platform`,
        [id, JSON.stringify(chunk), files],
      );
      inserted += r.rowCount ?? 0;
    }
  } else {
    // One statement for the whole fleet, numbered in registration order.
    const r = await trx.raw(
      `INSERT INTO installations (id, rollout_id, device_id, seq, file_id)
       SELECT (?::text || lpad(to_hex(n.seq), 12, '0'))::uuid, ?, n.id, n.seq, f.file_id
         FROM (SELECT d.id, d.platform, (row_number() OVER (ORDER BY d.created_at, d.id) - 1)::int AS seq
                 FROM devices d WHERE (?::text IS NULL OR d.platform = ?::text)) n
         LEFT JOIN jsonb_to_recordset(?::jsonb) AS f(platform text, file_id uuid) ON f.platform = n.platform`,
      [prefix, id, p.selection.platform ?? null, p.selection.platform ?? null, files],
    );
    inserted = r.rowCount ?? 0;
  }
  if (inserted !== p.total) {
    // devices were deleted/added under us: the snapshot (repeatable read) makes this a bug, not a race
    throw new ApiError(
      409,
      'conflict',
      `the selected devices changed while the rollout was created (${inserted} ≠ ${p.total}); retry`,
    );
  }
  return inserted;
}

export function rolloutInputFor(id: string, p: PreparedRollout, config: Config): RolloutInput {
  const o = p.body.timeouts ?? {};
  const ms = (v: number | string | undefined, dflt: number) => (v === undefined ? dflt : parseDurationMs(v));
  return {
    rolloutId: id,
    softwareId: p.software.id,
    softwareLabel: `${p.software.name} ${p.software.version}`,
    total: p.total,
    options: { useDm: p.body.options.useDm, push: p.push, maxPushAttempts: p.body.options.maxPushAttempts },
    timeouts: {
      bootstrapMs: ms(o.bootstrap, config.timeouts.bootstrapMs),
      dmInstallMs: ms(o.dmInstall, config.timeouts.dmInstallMs),
      ticketLifetimeMs: ms(o.ticketLifetime, config.timeouts.ticketLifetimeMs),
      verificationMs: ms(o.verification, config.timeouts.verificationMs),
    },
    schedule: p.schedule,
    notify: p.body.notify,
    failureThreshold: p.body.failureThreshold ?? defaultFailureThreshold(p.total),
  };
}

interface RolloutRow {
  id: string;
  software_id: string;
  options: unknown;
  schedule: Schedule;
  notify: string[];
  state: RolloutState;
  workflow_id: string | null;
  total: number;
  created_at: Date;
  completed_at: Date | null;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

async function rolloutRow(db: Db, rawId: unknown): Promise<RolloutRow> {
  const id = pathId(rawId, 'rollout');
  const row = (await db('rollouts').where({ id }).first()) as RolloutRow | undefined;
  if (!row) throw notFound('rollout');
  return row;
}

async function dbProgress(db: Db, row: RolloutRow) {
  const [counts, agg] = await Promise.all([
    db('installations')
      .where({ rollout_id: row.id })
      .whereNotNull('status')
      .groupBy('status')
      .select('status', db.raw('count(*)::int as n')),
    db('installations')
      .where({ rollout_id: row.id })
      .first(
        db.raw('count(started_at)::int as started'),
        db.raw('count(*) FILTER (WHERE started_at IS NULL AND NOT final)::int as remaining'),
        db.raw('min(planned_at) FILTER (WHERE started_at IS NULL AND NOT final) as next_start'),
      ),
  ]);
  const open = row.state === 'scheduled' || row.state === 'running';
  return {
    counts: Object.fromEntries(counts.map((c: { status: string; n: number }) => [c.status, c.n])),
    started: agg?.started ?? 0,
    remaining: agg?.remaining ?? 0,
    nextStartAt: open ? iso(agg?.next_start) : null,
  };
}

/** The workflow's progress, or undefined when it cannot answer (closed, gone, Temporal down). */
async function queryProgress(client: Client, row: RolloutRow): Promise<RolloutProgress | undefined> {
  try {
    const handle = client.workflow.getHandle(row.workflow_id ?? rolloutWorkflowId(row.id));
    return await Promise.race([
      handle.query(rolloutProgressQuery),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), QUERY_TIMEOUT_MS).unref()),
    ]);
  } catch {
    return undefined;
  }
}

function rolloutJson(
  row: RolloutRow,
  p: { counts: Record<string, number>; started: number; remaining: number; nextStartAt: string | null },
  extra: object,
) {
  return {
    id: row.id,
    state: row.state,
    counts: p.counts,
    total: row.total,
    started: p.started,
    remaining: p.remaining,
    nextStartAt: p.nextStartAt,
    ...extra,
    softwareId: row.software_id,
    schedule: row.schedule,
    options: row.options,
    notify: row.notify,
    workflowId: row.workflow_id,
    createdAt: iso(row.created_at),
    completedAt: iso(row.completed_at),
  };
}

function progressJson(p: RolloutProgress) {
  return {
    state: p.state,
    counts: p.counts,
    total: p.total,
    started: p.started,
    finished: p.finished,
    outstanding: p.outstanding,
    remaining: p.remaining,
    nextStartAt: p.nextStartAt,
    startsByDay: p.startsByDay,
    cancelling: p.cancelling,
    schedule: p.schedule,
  };
}

const isFinalState = (state: string): boolean => state === 'completed' || state === 'cancelled';
/** The workflow's last step has run: state final and `completed_at` written (a cancelled rollout is
 * `cancelled` from the request on, while its running installs are being cancelled). */
const isOver = (row: RolloutRow): boolean => row.completed_at !== null;

/** Runs a control Update; the workflow's rejections become 409/400 with its reason. */
async function control<Args extends unknown[]>(
  client: Client,
  row: RolloutRow,
  update: UpdateDefinition<RolloutProgress, Args, string>,
  args: Args,
): Promise<RolloutProgress> {
  if (isFinalState(row.state)) throw conflict(`the rollout has ${row.state === 'completed' ? 'completed' : 'been cancelled'}`);
  const handle = client.workflow.getHandle(row.workflow_id ?? rolloutWorkflowId(row.id));
  try {
    return (await handle.executeUpdate(update.name, { args: args as unknown as [unknown, ...unknown[]] })) as RolloutProgress;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      const f = err.cause;
      if (f.type === ROLLOUT_REJECTION.invalidSchedule) {
        const field = (f.details?.[0] as { field?: string } | undefined)?.field;
        throw badRequest(f.message, field);
      }
      if (f.type === ROLLOUT_REJECTION.conflict) throw conflict(f.message);
      throw new ApiError(409, 'conflict', f.message);
    }
    if (err instanceof WorkflowNotFoundError) throw conflict('the rollout workflow is not running (it has ended)');
    throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; retry later');
  }
}

export function rolloutRoutes({ db, temporal, config }: ApiContext): Router {
  const r = Router();

  r.post('/rollouts/preview', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const rawLimit = queryValue(query, 'limit');
    let limit = PREVIEW_SLOTS_DEFAULT;
    if (rawLimit !== undefined) {
      if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > PREVIEW_SLOTS_MAX) {
        throw badRequest(`limit: must be an integer from 1 to ${PREVIEW_SLOTS_MAX}`, 'limit');
      }
      limit = Number(rawLimit);
    }
    const now = Date.now();
    const p = await prepareRollout(db, req.body, now);
    const plan = previewPlan(p.schedule, p.total, now);
    const listed = Math.min(limit, p.total);
    let deviceIds: string[];
    if (p.selection.kind === 'ids') deviceIds = p.selection.ids.slice(0, listed);
    else {
      const q = db('devices').orderBy(['created_at', 'id']).limit(listed).select('id');
      if (p.selection.platform) q.where({ platform: p.selection.platform });
      deviceIds = (await q).map((d: { id: string }) => d.id);
    }
    res.json({
      total: p.total,
      software: p.software,
      schedule: p.schedule,
      options: { useDm: p.body.options.useDm, push: p.push, maxPushAttempts: p.body.options.maxPushAttempts },
      slots: deviceIds.map((deviceId, i) => {
        const s = plan.slots[i]!;
        return { deviceId, at: new Date(s.at).toISOString(), date: s.date };
      }),
      slotsTruncated: listed < p.total,
      days: plan.days,
      firstStartAt: plan.slots[0] ? new Date(plan.slots[0].at).toISOString() : null,
      lastStartAt: plan.slots.length ? new Date(plan.slots[plan.slots.length - 1]!.at).toISOString() : null,
    });
  });

  r.post('/rollouts', async (req, res) => {
    const id = randomUUID();
    const workflowId = rolloutWorkflowId(id);
    const now = Date.now();
    // One snapshot for validation and the bulk insert: the devices validated are the devices written.
    const { p, input } = await db.transaction(
      async (trx) => {
        const p = await prepareRollout(trx, req.body, now);
        const input = rolloutInputFor(id, p, config);
        await insertRollout(trx, id, p, {
          workflowId,
          options: {
            ...input.options,
            requestedPush: p.body.options.push,
            timeouts: input.timeouts,
            failureThreshold: input.failureThreshold,
          },
        });
        return { p, input };
      },
      { isolationLevel: 'repeatable read' },
    );
    try {
      await temporal.workflow.start('rolloutWorkflow', {
        taskQueue: config.taskQueue,
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: RolloutId, value: id },
          { key: RolloutStateKey, value: 'scheduled' },
        ],
      });
    } catch (err) {
      await db('rollouts')
        .where({ id })
        .delete()
        .catch(() => undefined);
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw conflict('a rollout workflow with this id exists already');
      throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; the rollout was not created');
    }
    res.status(201).json({ id, workflowId, total: p.total });
  });

  /**
   * `counts` always come from Postgres (every job's current status, in-progress ones included).
   * Until the rollout is over — `completedAt`, written by the workflow's last step — its `progress`
   * query gives the state, started/remaining, the next start, the final results it has heard of
   * (`finalCounts`) and `cancelling`; once over, everything comes from Postgres (`source: database`).
   * A workflow that has finished but not yet made that last write is reported in the state Postgres
   * has: never `completed` without `completedAt`.
   */
  r.get('/rollouts/:id', async (req, res) => {
    let row = await rolloutRow(db, req.params.id);
    const [fromDb, q] = await Promise.all([dbProgress(db, row), isOver(row) ? undefined : queryProgress(temporal, row)]);
    if (q && isFinalState(q.state)) {
      const now = await rolloutRow(db, req.params.id);
      if (isOver(now)) {
        res.json(rolloutJson(now, await dbProgress(db, now), { source: 'database' }));
        return;
      }
      row = now;
    }
    if (q) {
      res.json(
        rolloutJson(
          { ...row, state: q.state === 'completed' ? row.state : q.state },
          { ...q, counts: fromDb.counts },
          {
            source: 'workflow',
            finished: q.finished,
            outstanding: q.outstanding,
            finalCounts: q.counts,
            startsByDay: q.startsByDay,
            cancelling: q.cancelling,
          },
        ),
      );
      return;
    }
    res.json(rolloutJson(row, fromDb, { source: 'database' }));
  });

  r.post('/rollouts/:id/pause', async (req, res) => {
    const row = await rolloutRow(db, req.params.id);
    res.json({ id: row.id, ...progressJson(await control(temporal, row, pauseRolloutUpdate, [])) });
  });

  r.post('/rollouts/:id/resume', async (req, res) => {
    const row = await rolloutRow(db, req.params.id);
    res.json({ id: row.id, ...progressJson(await control(temporal, row, resumeRolloutUpdate, [])) });
  });

  r.post('/rollouts/:id/cancel', async (req, res) => {
    const row = await rolloutRow(db, req.params.id);
    const body = parse(CancelRequestSchema, req.body ?? {});
    res.json({ id: row.id, ...progressJson(await control(temporal, row, cancelRolloutUpdate, [{ reason: body.reason }])) });
  });

  r.patch('/rollouts/:id/schedule', async (req, res) => {
    const row = await rolloutRow(db, req.params.id);
    // the body is the schedule: errors name `schedule.<field>` like those of POST /rollouts
    const { schedule: change } = parse(z.object({ schedule: ScheduleChangeSchema }), { schedule: req.body ?? {} });
    const current = row.schedule;
    const next: Schedule = {
      perDay: change.perDay ?? current.perDay,
      startDate: change.startDate ?? current.startDate,
      weekdays: change.weekdays ?? current.weekdays,
      window: { start: change.window?.start ?? current.window.start, end: change.window?.end ?? current.window.end },
      timeZone: change.timeZone ?? current.timeZone,
    };
    const errors = validateSchedule(next);
    if (errors[0]) throw badRequest(`schedule.${errors[0].field}: ${errors[0].message}`, `schedule.${errors[0].field}`);
    if (next.timeZone !== current.timeZone) {
      throw badRequest(
        `schedule.timeZone: the time zone cannot change during a rollout (it is ${current.timeZone}): the daily quota is counted per calendar day of that zone`,
        'schedule.timeZone',
      );
    }
    const progress = await control(temporal, row, changeScheduleUpdate, [next]);
    await db('rollouts')
      .where({ id: row.id })
      .update({ schedule: JSON.stringify(next) });
    res.json({ id: row.id, ...progressJson(progress) });
  });

  return r;
}
