/**
 * The device registry (SPEC "HTTP API"): registering a batch of devices (one INSERT; each device's
 * token returned once, only its SHA-256 stored), paging them in registration order, one device with
 * its health (last contact, last sync), and a device's token checked on each of its requests.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../infra/db';
import { conflict, invalid } from './errors';
import { newSecret, sha256Hex } from './secrets';

export interface NewDevice {
  externalId: string;
  platform: string;
  msisdn?: string | null;
  bootstrapped?: boolean;
  installed?: Record<string, string>;
}

/**
 * Registers the devices; `conflict` naming `devices.<i>.externalId` when an external id is listed
 * twice or registered already (also when registered concurrently). Returns each device's token.
 */
export async function registerDevices(
  db: Db,
  devices: NewDevice[],
): Promise<{ id: string; externalId: string; token: string }[]> {
  const seen = new Map<string, number>();
  devices.forEach((d, i) => {
    const first = seen.get(d.externalId);
    if (first !== undefined) {
      throw conflict(
        `externalId "${d.externalId}" appears twice in this request (devices[${first}] and devices[${i}])`,
        `devices.${i}.externalId`,
      );
    }
    seen.set(d.externalId, i);
  });
  const existing = await db('devices')
    .whereIn(
      'external_id',
      devices.map((d) => d.externalId),
    )
    .first('external_id');
  if (existing) {
    throw conflict(
      `a device with externalId "${existing.external_id}" is already registered`,
      `devices.${seen.get(existing.external_id)}.externalId`,
    );
  }
  const issued = devices.map((d) => ({ id: randomUUID(), externalId: d.externalId, token: newSecret('drd'), d }));
  try {
    await db('devices').insert(
      issued.map(({ id, token, d }) => ({
        id,
        external_id: d.externalId,
        platform: d.platform,
        msisdn: d.msisdn ?? null,
        bootstrapped: d.bootstrapped ?? false,
        installed: JSON.stringify(d.installed ?? {}),
        token_hash: sha256Hex(token),
      })),
    );
  } catch (err: any) {
    // registered concurrently between the check and the insert
    if (err?.code === '23505' && String(err.constraint ?? '').includes('external_id')) {
      const m = /\(external_id\)=\((.*)\)/.exec(String(err.detail ?? ''));
      const i = m?.[1] !== undefined ? seen.get(m[1]) : undefined;
      throw conflict(
        m ? `a device with externalId "${m[1]}" is already registered` : 'a device of this request is already registered',
        i !== undefined ? `devices.${i}.externalId` : 'devices',
      );
    }
    throw err;
  }
  return issued.map(({ id, externalId, token }) => ({ id, externalId, token }));
}

export interface DeviceRow {
  id: string;
  external_id: string;
  platform: string;
  msisdn: string | null;
  bootstrapped: boolean;
  installed: Record<string, string>;
  info: unknown;
  last_sync_at: Date | null;
  last_contact_at: Date | null;
  created_at: Date;
  /** The paging key: created_at with the microseconds that a JS Date would lose. */
  created_key: string;
  silent_for_seconds: number | null;
}

function deviceColumns(db: Db) {
  return [
    'devices.id',
    'external_id',
    'platform',
    'msisdn',
    'bootstrapped',
    'installed',
    'info',
    'last_sync_at',
    'last_contact_at',
    'devices.created_at',
    db.raw('devices.created_at::text as created_key'),
    db.raw('floor(extract(epoch from now() - last_contact_at))::bigint as silent_for_seconds'),
  ];
}

/**
 * A page of `limit` devices (of a platform) in registration order after the one whose paging key is
 * `after` ([created_key, id]), and the key of the page's last one when more follow. A forged key is
 * `invalid` (`cursor`).
 */
export async function listDevices(
  db: Db,
  q: { platform?: string; limit: number; after?: [string, string] },
): Promise<{ devices: DeviceRow[]; nextKey: [string, string] | null }> {
  const query = db('devices')
    .select(deviceColumns(db))
    .orderBy([
      { column: 'devices.created_at', order: 'asc' },
      { column: 'devices.id', order: 'asc' },
    ])
    .limit(q.limit + 1);
  if (q.platform) query.where({ platform: q.platform });
  if (q.after) query.whereRaw('(devices.created_at, devices.id) > (?::timestamptz, ?::uuid)', q.after);
  let rows: DeviceRow[];
  try {
    rows = await query;
  } catch (err: any) {
    // a forged cursor holding a malformed uuid/timestamp
    if (err?.code === '22P02' || err?.code === '22007' || err?.code === '22008') {
      throw invalid('cursor: not a cursor returned by this list', 'cursor');
    }
    throw err;
  }
  const devices = rows.slice(0, q.limit);
  const last = devices[devices.length - 1];
  return { devices, nextKey: rows.length > q.limit && last ? [last.created_key, last.id] : null };
}

/** One device, if registered. */
export async function findDevice(db: Db, id: string): Promise<DeviceRow | undefined> {
  return (await db('devices').where('devices.id', id).select(deviceColumns(db)).first()) as DeviceRow | undefined;
}

/** `last_contact_at` is kept to this many seconds: a newer contact within them writes nothing. */
export const CONTACT_RESOLUTION_S = 60;

/**
 * The recorded contact is stale: older than the resolution, or older than the start of one of the
 * device's jobs — also while that start is not written yet: the rollout writes its start marks in
 * batches, after the install has begun, and the device may already be answering its push. Such a job
 * (status set, not final, no `started_at`) makes the first contact after each of its changes count.
 */
const STALE_CONTACT = `(last_contact_at IS NULL OR last_contact_at < now() - make_interval(secs => ${CONTACT_RESOLUTION_S})
  OR EXISTS (SELECT 1 FROM installations i WHERE i.device_id = devices.id AND (i.started_at > devices.last_contact_at
    OR (i.started_at IS NULL AND i.status IS NOT NULL AND NOT i.final AND i.updated_at > devices.last_contact_at))))`;

/** A device as its authenticated requests see it. */
export interface AuthedDevice {
  id: string;
  externalId: string;
  platform: string;
}

/**
 * The device of a token, if any, and its contact recorded. The contact is written at most once per
 * `CONTACT_RESOLUTION_S` (a device makes several requests per install; a write per request was a
 * fifth of all row writes) — except that the first contact after one of the device's jobs started is
 * always written (even before the rollout has written that start): the rollout report's "not heard
 * from" (P1) compares `last_contact_at` with the job's start and stays exact.
 */
export async function authenticateDevice(db: Db, token: string): Promise<AuthedDevice | undefined> {
  const d = (await db('devices')
    .where({ token_hash: sha256Hex(token) })
    .first('id', 'external_id', 'platform', db.raw(`${STALE_CONTACT} as stale`))) as
    | { id: string; external_id: string; platform: string; stale: boolean }
    | undefined;
  if (!d) return undefined;
  // conditional again: of concurrent requests only one writes
  if (d.stale) await db('devices').where({ id: d.id }).whereRaw(STALE_CONTACT).update({ last_contact_at: db.fn.now() });
  return { id: d.id, externalId: d.external_id, platform: d.platform };
}
