/**
 * `POST /rollouts/:id/retry` (issue 14, SPEC G3): a new rollout over the devices whose jobs in a
 * rollout that is over ended in the given statuses (default `Installation failed`, `Unknown status`),
 * in the source's planned order, with `retryOf` naming the source. The new rollout is made exactly as
 * `POST /rollouts` makes one (the same checks, per device too); retired devices are not retried.
 * Refusals: `conflict` while the source still runs (or its cancel is still settling), `invalid` when no
 * device matches or the request is invalid (naming the field), `not-found`.
 *
 * How it differs from `options.maxPushAttempts`: those pushes belong to one job and follow each other by
 * themselves (a new link each time the previous one expired unused); a retry is an operator's decision
 * after the rollout is over — a new rollout with new jobs, its own schedule, quota, groups and report.
 */
import type { z } from 'zod';
import { DEFAULT_RETRY_STATUSES, type RetryRequest } from '../../domain/retry-request';
import { type RolloutRequest, RolloutRequestSchema } from '../../domain/rollout-request';
import { isFinalRolloutState } from '../../domain/rollout-state';
import type { Schedule } from '../../domain/schedule';
import { conflict, invalid } from '../errors';
import { createRollout, type RolloutDeps } from './create';
import { findRollout } from './progress';

/** The options a rollout was made with, as a request gives them (rollouts.options keeps the effective ones). */
function requestedOptions(stored: unknown): Record<string, unknown> {
  const o = (stored ?? {}) as { useDm?: boolean; push?: string; requestedPush?: string; maxPushAttempts?: number };
  return {
    ...(o.useDm !== undefined ? { useDm: o.useDm } : {}),
    ...((o.requestedPush ?? o.push) ? { push: o.requestedPush ?? o.push } : {}),
    ...(o.maxPushAttempts !== undefined ? { maxPushAttempts: o.maxPushAttempts } : {}),
  };
}

/** The per-rollout timeouts a rollout was made with (stored in ms), as a request gives them. */
function requestedTimeouts(stored: unknown): Record<string, number> | undefined {
  const t = (stored as { timeouts?: Record<string, unknown> } | null)?.timeouts;
  if (!t) return undefined;
  const out: Record<string, number> = {};
  for (const [from, to] of [
    ['bootstrapMs', 'bootstrap'],
    ['dmInstallMs', 'dmInstall'],
    ['ticketLifetimeMs', 'ticketLifetime'],
    ['verificationMs', 'verification'],
  ] as const) {
    if (typeof t[from] === 'number') out[to] = t[from] as number;
  }
  return out;
}

/**
 * The new rollout's schedule: the source's quota, weekdays, window and time zone (what protects the
 * servers, S7) from today, the fields given replacing theirs.
 */
function retrySchedule(source: Schedule, given: unknown): unknown {
  const inherited = { perDay: source.perDay, weekdays: source.weekdays, window: source.window, timeZone: source.timeZone };
  if (given === undefined) return inherited;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return given; // the schema names the error
  return { ...inherited, ...given };
}

function zodInvalid(err: z.ZodError) {
  const issue = err.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : undefined;
  return invalid(issue ? `${field ? `${field}: ` : ''}${issue.message}` : 'invalid request', field);
}

export async function retryRollout(
  deps: RolloutDeps,
  sourceId: string,
  req: RetryRequest,
): Promise<Awaited<ReturnType<typeof createRollout>> & { retryOf: string; statuses: string[] }> {
  const { db } = deps;
  const source = await findRollout(db, sourceId);
  if (!isFinalRolloutState(source.state) || source.completed_at === null) {
    throw conflict(
      `the rollout is still ${source.state === 'cancelled' ? 'cancelling its running installs' : source.state}: retry it once it has completed or been cancelled (or cancel it first)`,
    );
  }
  const statuses = [...(req.statuses ?? DEFAULT_RETRY_STATUSES)];
  const ids = (
    (await db('installations as i')
      .join('devices as d', 'd.id', 'i.device_id')
      .where('i.rollout_id', source.id)
      .whereIn('i.status', statuses)
      .whereNull('d.retired_at')
      .orderBy('i.seq')
      .select('i.device_id')) as { device_id: string }[]
  ).map((r) => r.device_id);
  if (ids.length === 0) {
    throw invalid(
      `statuses: no device of rollout ${source.id} (in service) ended in ${statuses.map((s) => JSON.stringify(s)).join(' or ')}`,
      'statuses',
    );
  }
  const timeouts = requestedTimeouts(source.options);
  const raw = {
    softwareId: source.software_id,
    // checked with one device (the schema caps listed ids); the new rollout takes them all
    devices: { ids: [ids[0]] },
    options: req.options ?? requestedOptions(source.options),
    schedule: retrySchedule(source.schedule, req.schedule),
    ...(timeouts && Object.keys(timeouts).length > 0 ? { timeouts } : {}),
    notify: req.notify ?? source.notify ?? [],
    ...(req.groups !== undefined ? { groups: req.groups } : {}),
    ...(req.safety !== undefined ? { safety: req.safety } : {}),
  };
  const parsed = RolloutRequestSchema.safeParse(raw);
  if (!parsed.success) throw zodInvalid(parsed.error);
  const body: RolloutRequest = { ...parsed.data, devices: { ids } };
  const created = await createRollout(deps, body);
  await db('rollouts').where({ id: created.id }).update({ retry_of: source.id });
  return { ...created, retryOf: source.id, statuses };
}
