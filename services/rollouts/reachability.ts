/**
 * Per device, not all or nothing (issue 14, SPEC G4), as `prepareRollout` checks a request:
 * - Use DM (R1) is refused only when it applies to none of the selected devices; elsewhere those
 *   devices take the push method (the install workflow chooses per device the same way);
 * - devices the rollout cannot reach — no file for their platform (R7: .cab-only for Windows Mobile
 *   Smartphones), or no MSISDN for an SMS / WAP push (in-house iOS apps always go by SMS) — make a 400
 *   naming how many and the first of them (field `devices`), unless `options.skipUnreachable: true`
 *   leaves them out (counted in the answer as `skipped`).
 * The checks run in PostgreSQL over the selection (a filter may select 100,000 devices): counts and the
 * first names only; devices are listed by id only when some are left out of a filtered selection.
 */

import type { Platform, SoftwareFacts } from '../../domain/install-options';
import { dmForFleet, type FirstMethod, firstMethod, nameDevices, needsMsisdn, platformFiles } from '../../domain/reachability';
import type { DeviceFilter, RolloutRequest } from '../../domain/rollout-request';
import type { Db } from '../../infra/db';
import { whereDeviceFilter } from '../devices';
import { invalid } from '../errors';

/** How many devices an error names. */
const NAMED = 10;

/** The selected devices as services/rollouts/prepare.ts holds them. */
type Selection =
  | { kind: 'ids'; ids: string[]; platformOf: Map<string, Platform>; externalOf: Map<string, string> }
  | { kind: 'filter'; filter: DeviceFilter };

interface Checked {
  body: RolloutRequest;
  facts: SoftwareFacts;
  selection: Selection;
  total: number;
  /** Selected devices per platform. */
  platforms: Map<Platform, number>;
}

/** What `prepareRollout` keeps of the per-device check. */
export interface Reach {
  /** The selection without the devices left out (a filter with devices left out becomes their ids). */
  selection: Selection;
  total: number;
  fileByPlatform: Map<Platform, string>;
  /** The first method of a job per selected platform (preview: each device's first method). */
  methodByPlatform: Map<Platform, FirstMethod>;
  /** Devices left out by `options.skipUnreachable` (absent when none). */
  skipped?: { total: number; noFile: number; noMsisdn: number; first: { id: string; externalId: string }[] };
}

/** The selected devices (`devices` rows) in planned order. */
function selected(db: Db, selection: Selection) {
  const q = db('devices');
  if (selection.kind === 'ids') {
    q.whereIn('devices.id', selection.ids).orderByRaw('array_position(?::uuid[], devices.id)', [selection.ids]);
  } else {
    whereDeviceFilter(db, q, selection.filter);
    q.orderBy([
      { column: 'devices.created_at', order: 'asc' },
      { column: 'devices.id', order: 'asc' },
    ]);
  }
  return q;
}

const label = (r: { id: string; external_id: string }) => `${r.external_id} (${r.id})`;

/**
 * Checks R1, R7 and the MSISDNs per device over the selection; `platforms` (selected devices per
 * platform) is updated in place when devices are left out. Throws `invalid` naming the field.
 */
export async function checkReachability(db: Db, p: Checked): Promise<Reach> {
  const { body, facts, platforms } = p;
  const { options } = body;

  // R1 on a mixed fleet: refused only when Use DM applies to none of the selected devices.
  if (options.useDm) {
    const dm = dmForFleet(facts, platforms.keys());
    if (!dm.ok) {
      const first = await selected(db, p.selection).limit(NAMED).select('devices.id', 'devices.external_id');
      throw invalid(
        `options.useDm: ${dm.reason} — ${p.total} selected device(s): ${nameDevices(first.map(label), p.total)}`,
        'options.useDm',
      );
    }
  }

  // R7 per platform, the MSISDN per device: the unreachable ones.
  const { files, refused } = platformFiles(facts, platforms.keys());
  const msisdn = needsMsisdn(facts, options.push);
  const refusedPlatforms = [...refused.keys()];
  const unreachableWhere = (q: ReturnType<typeof selected>) =>
    q.where((w) => {
      if (refusedPlatforms.length > 0) w.orWhereIn('devices.platform', refusedPlatforms);
      if (msisdn) w.orWhereRaw("coalesce(btrim(devices.msisdn), '') = ''");
      if (refusedPlatforms.length === 0 && !msisdn) w.whereRaw('false');
    });
  const noMsisdnByPlatform = new Map<Platform, number>();
  if (msisdn) {
    const rows = (await selected(db, p.selection)
      .clearOrder()
      .whereRaw("coalesce(btrim(devices.msisdn), '') = ''")
      .groupBy('devices.platform')
      .select('devices.platform', db.raw('count(*)::int as n'))) as { platform: Platform; n: number }[];
    for (const r of rows) if (!refused.has(r.platform)) noMsisdnByPlatform.set(r.platform, r.n);
  }
  const noFile = refusedPlatforms.reduce((a, pl) => a + (platforms.get(pl) ?? 0), 0);
  const noMsisdn = [...noMsisdnByPlatform.values()].reduce((a, b) => a + b, 0);
  const unreachable = noFile + noMsisdn;

  let selection = p.selection;
  let total = p.total;
  let skipped: Reach['skipped'];
  if (unreachable > 0) {
    const first = (await unreachableWhere(selected(db, p.selection))
      .limit(NAMED)
      .select('devices.id', 'devices.external_id', 'devices.platform')) as {
      id: string;
      external_id: string;
      platform: Platform;
    }[];
    if (!options.skipUnreachable) {
      const why: string[] = [];
      for (const [pl, reason] of refused) why.push(`${platforms.get(pl)} ${pl} device(s): ${reason}`);
      if (noMsisdn > 0) {
        why.push(
          `${noMsisdn} device(s) without an MSISDN: ${facts.inHouseIos ? 'an in-house iOS app goes only by SMS push (R6), never as a plain link' : `${options.push === 'wap' ? 'WAP' : 'SMS'} push needs one`}`,
        );
      }
      throw invalid(
        `devices: cannot install on ${unreachable} of ${total} selected device(s) — ${why.join('; ')}; set options.skipUnreachable: true to leave them out; first: ${nameDevices(first.map(label), unreachable)}`,
        'devices',
      );
    }
    if (unreachable >= total) {
      throw invalid(
        `devices: none of the ${total} selected device(s) can be reached (${nameDevices(first.map(label), unreachable)})`,
        'devices',
      );
    }
    // Leave them out: the selection becomes the reachable devices' ids, in planned order.
    const ids = (
      (await selected(db, p.selection)
        .whereNot((w) => unreachableWhere(w as unknown as ReturnType<typeof selected>))
        .select('devices.id')) as { id: string }[]
    ).map((r) => r.id);
    selection =
      p.selection.kind === 'ids' ? { ...p.selection, ids } : { kind: 'ids', ids, platformOf: new Map(), externalOf: new Map() };
    total = ids.length;
    for (const pl of refusedPlatforms) platforms.delete(pl);
    for (const [pl, n] of noMsisdnByPlatform) {
      const left = (platforms.get(pl) ?? 0) - n;
      if (left > 0) platforms.set(pl, left);
      else platforms.delete(pl);
    }
    skipped = { total: unreachable, noFile, noMsisdn, first: first.map((r) => ({ id: r.id, externalId: r.external_id })) };
  }

  const methodByPlatform = new Map<Platform, FirstMethod>();
  for (const pl of platforms.keys()) methodByPlatform.set(pl, firstMethod(facts, options, pl));
  return { selection, total, fileByPlatform: files, methodByPlatform, ...(skipped ? { skipped } : {}) };
}

/** Each listed device's first method (the preview), by the platforms of the checked request. */
export async function firstMethodsOf(
  db: Db,
  methodByPlatform: ReadonlyMap<Platform, FirstMethod>,
  deviceIds: readonly string[],
): Promise<Map<string, FirstMethod>> {
  const out = new Map<string, FirstMethod>();
  for (let i = 0; i < deviceIds.length; i += 5_000) {
    const rows = (await db('devices')
      .whereIn('id', deviceIds.slice(i, i + 5_000))
      .select('id', 'platform')) as { id: string; platform: Platform }[];
    for (const r of rows) {
      const m = methodByPlatform.get(r.platform);
      if (m) out.set(r.id, m);
    }
  }
  return out;
}
