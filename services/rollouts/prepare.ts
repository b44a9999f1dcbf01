/**
 * Checking a rollout request against the database: the schedule's rules, the software, the
 * devices, R1 (Use DM only where it applies) and R7 (a file for every selected device) — in the order
 * an admin fixes them; each refusal is `invalid` naming the field. Used by `POST /rollouts`,
 * `/rollouts/preview` and the simulator's direct start.
 */
import { type RolloutGroup, type RolloutSafety, resolveSafety, splitGroups } from '../../domain/groups';
import { effectivePushMethod, type Platform, type SoftwareFacts } from '../../domain/install-options';
import type { DeviceFilter, RolloutRequest } from '../../domain/rollout-request';
import { normalizeSchedule, type PreviewPlan, previewPlan, type Schedule, validateSchedule } from '../../domain/schedule';
import type { Db } from '../../infra/db';
import { whereDeviceFilter } from '../devices';
import { invalid } from '../errors';
import { checkReachability, type Reach } from './reachability';

/** How many device names an error message lists at most. */
const NAMED = 10;

type Selection =
  | { kind: 'ids'; ids: string[]; platformOf: Map<string, Platform>; externalOf: Map<string, string> }
  | { kind: 'filter'; filter: DeviceFilter };

/**
 * The devices a filter selects (in service, all conditions), `id` and `platform`, in registration
 * order — the same query for the preview, the counts and the rollout's jobs (services/rollouts/create.ts).
 */
export function filteredDevices(db: Db, filter: DeviceFilter) {
  const q = db('devices').select('devices.id', 'devices.platform');
  whereDeviceFilter(db, q, filter);
  return q.orderBy([
    { column: 'devices.created_at', order: 'asc' },
    { column: 'devices.id', order: 'asc' },
  ]);
}

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
  /** Per device: first methods, devices left out (services/rollouts/reachability.ts). */
  reach: Reach;
  /** Staged groups and their safety rules (issue 14); undefined: one group, no gates, no halt. */
  staged?: { groups: RolloutGroup[]; safety: RolloutSafety };
}

/**
 * The groups and safety rules of a request over its `total` devices (after those left out): `groups`
 * split in planned order, `safety` with its defaults. Neither given: undefined (today's behaviour).
 */
function stagedRollout(body: RolloutRequest, total: number): PreparedRollout['staged'] {
  if (!body.groups && !body.safety) return undefined;
  const groups = splitGroups(total, body.groups);
  if (!Array.isArray(groups)) throw invalid(`${groups.field}: ${groups.message}`, groups.field);
  return { groups, safety: resolveSafety(body.safety) };
}

const list = (xs: string[], total = xs.length) =>
  `${xs.slice(0, NAMED).join(', ')}${total > Math.min(xs.length, NAMED) ? ` and ${total - Math.min(xs.length, NAMED)} more` : ''}`;

/** The first error of a schedule as the request names it (`schedule.<field>`), if any. */
export function scheduleError(schedule: Schedule) {
  const e = validateSchedule(schedule)[0];
  return e ? invalid(`schedule.${e.field}: ${e.message}`, `schedule.${e.field}`) : undefined;
}

/**
 * Everything `POST /rollouts` and `/rollouts/preview` check after the body's shape: the schedule, the
 * software, the devices, R1, R7. `db` may be a transaction (one snapshot for the check and the insert).
 */
export async function prepareRollout(db: Db, body: RolloutRequest, now: number): Promise<PreparedRollout> {
  const schedule = normalizeSchedule(body.schedule, now);
  const badSchedule = scheduleError(schedule);
  if (badSchedule) throw badSchedule;

  const sw = await db('software')
    .where({ id: body.softwareId })
    .first('id', 'name', 'version', 'kind', 'platforms', 'in_house_ios');
  if (!sw) throw invalid(`softwareId: no software with id ${body.softwareId}`, 'softwareId');
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
    if (dups.length > 0) throw invalid(`devices.ids: listed more than once: ${list([...new Set(dups)])}`, 'devices.ids');
    const rows: { id: string; platform: Platform; external_id: string; retired_at: Date | null }[] = await db('devices')
      .whereIn('id', ids)
      .select('id', 'platform', 'external_id', 'retired_at');
    const retired = rows.filter((r) => r.retired_at).map((r) => r.id);
    if (retired.length > 0) throw invalid(`devices.ids: retired device(s): ${list(retired)}`, 'devices.ids');
    const platformOf = new Map(rows.map((r) => [r.id, r.platform]));
    const externalOf = new Map(rows.map((r) => [r.id, r.external_id]));
    const unknown = ids.filter((i) => !platformOf.has(i));
    if (unknown.length > 0) throw invalid(`devices.ids: no such device(s): ${list(unknown)}`, 'devices.ids');
    for (const r of rows) platforms.set(r.platform, (platforms.get(r.platform) ?? 0) + 1);
    selection = { kind: 'ids', ids, platformOf, externalOf };
    total = ids.length;
  } else {
    const filter = body.devices.filter as DeviceFilter;
    const q = db('devices').groupBy('devices.platform').select('devices.platform', db.raw('count(*)::int as n'));
    whereDeviceFilter(db, q, filter);
    for (const r of (await q) as { platform: Platform; n: number }[]) platforms.set(r.platform, r.n);
    total = [...platforms.values()].reduce((a, b) => a + b, 0);
    if (total === 0) {
      const given = Object.keys(filter).filter((k) => filter[k as keyof DeviceFilter] !== undefined);
      const field = given.length === 1 ? `devices.filter.${given[0]}` : 'devices.filter';
      throw invalid(`${field}: no registered device in service matches this filter (${given.join(' and ')})`, field);
    }
    selection = { kind: 'filter', filter };
  }

  // R1, R7 and the MSISDNs per device, unreachable devices refused or left out (issue 14)
  const reach = await checkReachability(db, { body, facts, selection, platforms, total });
  ({ selection, total } = reach);
  const fileByPlatform = reach.fileByPlatform;

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
    reach,
    staged: stagedRollout(body, total),
  };
}

/** `POST /rollouts/preview`: the plan of a checked request and the devices of its first `limit` slots. */
export async function previewRollout(
  db: Db,
  body: RolloutRequest,
  limit: number,
  now: number,
): Promise<{ prepared: PreparedRollout; plan: PreviewPlan; deviceIds: string[] }> {
  const p = await prepareRollout(db, body, now);
  const plan = previewPlan(p.schedule, p.total, now);
  const listed = Math.min(limit, p.total);
  let deviceIds: string[];
  if (p.selection.kind === 'ids') deviceIds = p.selection.ids.slice(0, listed);
  else deviceIds = (await filteredDevices(db, p.selection.filter).limit(listed)).map((d: { id: string }) => d.id);
  return { prepared: p, plan, deviceIds };
}
