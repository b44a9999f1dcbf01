/**
 * Creating a rollout: the rollout row and ALL its jobs written in one snapshot with the
 * check (repeatable read: the devices checked are the devices written), then the rollout workflow
 * started. A workflow that cannot be started leaves no rollout behind.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { parseDurationMs } from '../../domain/duration';
import type { Platform } from '../../domain/install-options';
import { type DeviceFilter, defaultFailureThreshold, type RolloutRequest } from '../../domain/rollout-request';
import { RolloutGroup as RolloutGroupKey, RolloutId, RolloutState as RolloutStateKey } from '../../domain/search-attributes';
import type { InstallTimeouts } from '../../infra/config';
import type { Db } from '../../infra/db';
import { installationIdFor, type RolloutInput, rolloutWorkflowId } from '../../workflows/messages';
import { rolloutWorkflow } from '../../workflows/rollout';
import { conflict, unavailable } from '../errors';
import { insertRolloutJobs } from '../installations/jobs';
import { filteredDevices, type PreparedRollout, prepareRollout } from './prepare';

/** What the rollout services need: the database, the Temporal client and the server's settings. */
export interface RolloutDeps {
  db: Db;
  temporal: Client;
  taskQueue: string;
  /** The server's install timeouts: the defaults of a request's `timeouts`. */
  timeouts: InstallTimeouts;
}

/**
 * The jobs of a rollout made from a filter: one INSERT … SELECT over the filter's query
 * (`filteredDevices`, run on its indexes), numbered in registration order; ids `installationIdFor(rollout, seq)`.
 */
async function insertFilteredJobs(
  trx: Db,
  rolloutId: string,
  filter: DeviceFilter,
  fileByPlatform: ReadonlyMap<Platform, string>,
): Promise<number> {
  const files = JSON.stringify([...fileByPlatform].map(([platform, file_id]) => ({ platform, file_id })));
  const prefix = installationIdFor(rolloutId, 0).slice(0, 24); // ids encode (rollout, seq)
  const numbered = filteredDevices(trx, filter)
    .clearSelect()
    .clearOrder()
    .select(
      'devices.id',
      'devices.platform',
      trx.raw('(row_number() OVER (ORDER BY devices.created_at, devices.id) - 1)::int AS seq'),
    );
  const r = await trx.raw(
    `INSERT INTO installations (id, rollout_id, device_id, seq, file_id)
     SELECT (?::text || lpad(to_hex(n.seq), 12, '0'))::uuid, ?, n.id, n.seq, f.file_id
       FROM (?) n
       LEFT JOIN jsonb_to_recordset(?::jsonb) AS f(platform text, file_id uuid) ON f.platform = n.platform`,
    [prefix, rolloutId, numbered, files],
  );
  return r.rowCount ?? 0;
}

/** Writes the rollout and its jobs (inside the caller's transaction). */
async function insertRollout(
  trx: Db,
  id: string,
  p: PreparedRollout,
  extra: { options: object; workflowId: string },
): Promise<number> {
  await trx('rollouts').insert({
    id,
    software_id: p.software.id,
    // the filter asked for, also when unreachable devices were left out (the jobs are then listed by id)
    filter: p.body.devices.filter ? JSON.stringify(p.body.devices.filter) : null,
    options: JSON.stringify(extra.options),
    schedule: JSON.stringify(p.schedule),
    notify: p.body.notify,
    state: 'scheduled',
    workflow_id: extra.workflowId,
    total: p.total,
    groups: p.staged ? JSON.stringify(p.staged.groups) : null,
    safety: p.staged ? JSON.stringify(p.staged.safety) : null,
  });
  const inserted =
    p.selection.kind === 'ids'
      ? await insertRolloutJobs(trx, id, p.selection, p.fileByPlatform)
      : await insertFilteredJobs(trx, id, p.selection.filter, p.fileByPlatform);
  if (inserted !== p.total) {
    // devices were deleted/added under us: the snapshot (repeatable read) makes this a bug, not a race
    throw conflict(`the selected devices changed while the rollout was created (${inserted} ≠ ${p.total}); retry`);
  }
  const groups = p.staged?.groups ?? [];
  if (groups.length > 1) {
    // each job's group (issue 14), by its seq: one statement
    const cases = groups.map((g, i) => `WHEN seq < ${g.from + g.size} THEN ${i}`).join(' ');
    await trx.raw(`UPDATE installations SET group_index = CASE ${cases} ELSE ${groups.length - 1} END WHERE rollout_id = ?`, [
      id,
    ]);
  }
  return inserted;
}

/** The rollout workflow's input for a checked request. */
function rolloutInputFor(id: string, p: PreparedRollout, timeouts: InstallTimeouts): RolloutInput {
  const o = p.body.timeouts ?? {};
  const ms = (v: number | string | undefined, dflt: number) => (v === undefined ? dflt : parseDurationMs(v));
  return {
    rolloutId: id,
    softwareId: p.software.id,
    softwareLabel: `${p.software.name} ${p.software.version}`,
    total: p.total,
    options: { useDm: p.body.options.useDm, push: p.push, maxPushAttempts: p.body.options.maxPushAttempts },
    timeouts: {
      bootstrapMs: ms(o.bootstrap, timeouts.bootstrapMs),
      dmInstallMs: ms(o.dmInstall, timeouts.dmInstallMs),
      ticketLifetimeMs: ms(o.ticketLifetime, timeouts.ticketLifetimeMs),
      verificationMs: ms(o.verification, timeouts.verificationMs),
      pushSendMs: timeouts.pushSendMs,
    },
    schedule: p.schedule,
    notify: p.body.notify,
    failureThreshold: p.body.failureThreshold ?? defaultFailureThreshold(p.total),
    ...(p.staged ? { groups: p.staged.groups, safety: p.staged.safety } : {}),
  };
}

export interface CreateRolloutOptions {
  now?: number;
  /** Changes the workflow input before anything is written (tools: tuning, thresholds the API does not offer). */
  adjust?: (input: RolloutInput) => RolloutInput;
}

/**
 * `POST /rollouts`: checks the request, writes the rollout with its jobs and starts its workflow.
 * Refusals: `invalid` (the request), `conflict` (a workflow with that id exists), `unavailable` (Temporal).
 */
export async function createRollout(
  deps: RolloutDeps,
  body: RolloutRequest,
  opts: CreateRolloutOptions = {},
): Promise<{ id: string; workflowId: string; total: number; skipped?: PreparedRollout['reach']['skipped'] }> {
  const { db } = deps;
  const id = randomUUID();
  const workflowId = rolloutWorkflowId(id);
  const now = opts.now ?? Date.now();
  const { p, input } = await db.transaction(
    async (trx) => {
      const p = await prepareRollout(trx, body, now);
      const planned = rolloutInputFor(id, p, deps.timeouts);
      const input = opts.adjust ? opts.adjust(planned) : planned;
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
    await deps.temporal.workflow.start(rolloutWorkflow, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      typedSearchAttributes: [
        { key: RolloutId, value: id },
        { key: RolloutStateKey, value: 'scheduled' },
        ...(input.groups?.[0] ? [{ key: RolloutGroupKey, value: input.groups[0].name }] : []),
      ],
    });
  } catch (err) {
    await db('rollouts')
      .where({ id })
      .delete()
      .catch(() => undefined);
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw conflict('a rollout workflow with this id exists already');
    throw unavailable('the workflow service is unavailable; the rollout was not created');
  }
  return { id, workflowId, total: p.total, ...(p.reach.skipped ? { skipped: p.reach.skipped } : {}) };
}
