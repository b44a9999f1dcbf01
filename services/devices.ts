/**
 * The device registry (SPEC "HTTP API"): registering a batch of devices (one INSERT; each device's
 * token returned once, only its SHA-256 stored), paging them in registration order with filters, one
 * device with its health (last contact, last sync) and its history, changing a device (every change
 * recorded in `device_history`), a new token, retiring it (its running jobs cancelled), and a
 * device's token checked on each of its requests (a retired device's token is refused).
 */
import { randomUUID } from 'node:crypto';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Knex } from 'knex';
import { parseDurationMs } from '../domain/duration';
import type { DeviceFilter } from '../domain/rollout-request';
import { type Db, PreparedStatement } from '../infra/db';
import { conflict, notFound, pageWithCursor, unavailable } from './errors';
import { cancelDeviceJobsNotStarted, installWorkflowIdOf } from './installations/jobs';
import { newSecret, sha256Hex } from './secrets';

export interface NewDevice {
  externalId: string;
  platform: string;
  msisdn?: string | null;
  bootstrapped?: boolean;
  installed?: Record<string, string>;
  tags?: string[];
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
        tags: [...new Set(d.tags ?? [])],
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
  tags: string[];
  retired_at: Date | null;
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
    'tags',
    'retired_at',
    'info',
    'last_sync_at',
    'last_contact_at',
    'devices.created_at',
    db.raw('devices.created_at::text as created_key'),
    db.raw('floor(extract(epoch from now() - last_contact_at))::bigint as silent_for_seconds'),
  ];
}

/** The SQL form of R8's name match (exact key, else case- and blank-insensitive): device_software.name_norm. */
const normName = (name: string) => name.trim().replace(/\s+/g, ' ').toLowerCase();

/**
 * Restricts a query on `devices` to the filter (AND of its fields) and to devices in service (`retired`:
 * to retired ones). Every
 * field has an index: platform (btree), tags (GIN, `@>`), installed (device_software (name_norm,
 * version_key): the version key of migrations/20261201000009_fleet.ts orders like R8), last contact.
 */
export function whereDeviceFilter(
  db: Db,
  q: Knex.QueryBuilder,
  f: Partial<DeviceFilter> & { silentFor?: string },
  retired = false,
): void {
  if (retired) q.whereNotNull('devices.retired_at');
  else q.whereNull('devices.retired_at');
  if (f.platform) q.where('devices.platform', f.platform);
  if (f.tags && f.tags.length > 0) q.whereRaw(`devices.tags @> ARRAY[${f.tags.map(() => '?').join(', ')}]::text[]`, f.tags);
  if (f.contactedWithin) {
    q.whereRaw("devices.last_contact_at >= now() - (? * interval '1 millisecond')", [parseDurationMs(f.contactedWithin)]);
  }
  if (f.silentFor) {
    q.where((w) =>
      w
        .whereNull('devices.last_contact_at')
        .orWhereRaw("devices.last_contact_at < now() - (? * interval '1 millisecond')", [parseDurationMs(f.silentFor!)]),
    );
  }
  const inst = f.installed;
  if (inst) {
    const name = normName(inst.name);
    const has = (below?: string) =>
      below === undefined
        ? db.raw('EXISTS (SELECT 1 FROM device_software s WHERE s.device_id = devices.id AND s.name_norm = ?)', [name])
        : db.raw(
            'EXISTS (SELECT 1 FROM device_software s WHERE s.device_id = devices.id AND s.name_norm = ? AND s.version_key < dr_version_key(?))',
            [name, below],
          );
    const missing = db.raw('NOT EXISTS (SELECT 1 FROM device_software s WHERE s.device_id = devices.id AND s.name_norm = ?)', [
      name,
    ]);
    if (inst.missing && inst.below !== undefined) q.where((w) => w.whereRaw(has(inst.below)).orWhereRaw(missing));
    else if (inst.missing) q.whereRaw(missing);
    else q.whereRaw(has(inst.below));
  }
}

export interface DeviceListQuery extends Partial<DeviceFilter> {
  silentFor?: string;
  /** true: only retired devices; false / undefined: only devices in service. */
  retired?: boolean;
  limit: number;
  after?: [string, string];
}

/**
 * A page of `limit` devices matching the query in registration order after the one whose paging key
 * is `after` ([created_key, id]), and the key of the page's last one when more follow. A forged key is
 * `invalid` (`cursor`).
 */
export async function listDevices(
  db: Db,
  q: DeviceListQuery,
): Promise<{ devices: DeviceRow[]; nextKey: [string, string] | null }> {
  const query = db('devices')
    .select(deviceColumns(db))
    .orderBy([
      { column: 'devices.created_at', order: 'asc' },
      { column: 'devices.id', order: 'asc' },
    ])
    .limit(q.limit + 1);
  const { retired, limit: _l, after: _a, ...filter } = q;
  whereDeviceFilter(db, query, filter, retired);
  if (q.after) query.whereRaw('(devices.created_at, devices.id) > (?::timestamptz, ?::uuid)', q.after);
  const rows: DeviceRow[] = await pageWithCursor(query);
  const devices = rows.slice(0, q.limit);
  const last = devices[devices.length - 1];
  return { devices, nextKey: rows.length > q.limit && last ? [last.created_key, last.id] : null };
}

/** Who made a change (the admin key of the request), for the device's history. */
export interface Actor {
  keyId: string | null;
  keyName: string;
}

export interface DeviceHistoryEntry {
  at: Date;
  event: 'updated' | 'token-rotated' | 'retired';
  changes: Record<string, { from: unknown; to: unknown }>;
  admin_key_id: string | null;
  admin_key_name: string | null;
}

/** The device's history, oldest first. */
export async function deviceHistory(db: Db, id: string): Promise<DeviceHistoryEntry[]> {
  return db('device_history')
    .where({ device_id: id })
    .orderBy('id')
    .select('at', 'event', 'changes', 'admin_key_id', 'admin_key_name');
}

export interface DeviceChange {
  msisdn?: string | null;
  bootstrapped?: boolean;
  tags?: string[];
  platform?: string;
}

/**
 * Changes a device; each changed field is recorded in its history (from → to). A retired device is
 * `conflict`, an unknown one `not-found`. The next push of any job (also a retry of a running job)
 * reads the MSISDN at send time (activities/install.ts).
 */
export async function updateDevice(db: Db, id: string, change: DeviceChange, actor: Actor): Promise<void> {
  await db.transaction(async (trx) => {
    const row = await trx('devices').where({ id }).forUpdate().first('msisdn', 'bootstrapped', 'tags', 'platform', 'retired_at');
    if (!row) throw notFound('device');
    if (row.retired_at) throw conflict('the device is retired');
    const next: Record<string, unknown> = {};
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    const fields: (keyof DeviceChange)[] = ['msisdn', 'bootstrapped', 'platform', 'tags'];
    for (const f of fields) {
      if (change[f] === undefined) continue;
      const to = f === 'tags' ? [...new Set(change.tags)] : change[f];
      const from = row[f];
      if (JSON.stringify(from) === JSON.stringify(to)) continue;
      next[f] = to;
      changes[f] = { from, to };
    }
    if (Object.keys(changes).length === 0) return;
    await trx('devices').where({ id }).update(next);
    await trx('device_history').insert({
      device_id: id,
      event: 'updated',
      changes: JSON.stringify(changes),
      admin_key_id: actor.keyId,
      admin_key_name: actor.keyName,
    });
  });
}

/** A new token for the device (returned once); the old one stops working at once. */
export async function rotateDeviceToken(db: Db, id: string, actor: Actor): Promise<string> {
  const token = newSecret('drd');
  await db.transaction(async (trx) => {
    const row = await trx('devices').where({ id }).forUpdate().first('retired_at');
    if (!row) throw notFound('device');
    if (row.retired_at) throw conflict('the device is retired');
    await trx('devices')
      .where({ id })
      .update({ token_hash: sha256Hex(token) });
    await trx('device_history').insert({
      device_id: id,
      event: 'token-rotated',
      admin_key_id: actor.keyId,
      admin_key_name: actor.keyName,
    });
  });
  return token;
}

/**
 * Retires the device: `retired_at` set (its token refused from now on, never selected again), then
 * each running job's install workflow cancelled the way a rollout's cancel does it (Temporal
 * cancellation: the workflow revokes its tickets and records `Cancelled`). Idempotent: a retired
 * device is answered again (its running jobs are cancelled again, which is a no-op once they ended).
 */
export async function retireDevice(
  db: Db,
  temporal: Client,
  id: string,
  actor: Actor,
): Promise<{ retiredAt: Date; cancelled: number }> {
  const retiredAt = await db.transaction(async (trx) => {
    const row = await trx('devices').where({ id }).forUpdate().first('retired_at');
    if (!row) throw notFound('device');
    if (row.retired_at) return row.retired_at as Date;
    const [r] = await trx('devices').where({ id }).update({ retired_at: trx.fn.now() }).returning('retired_at');
    await trx('device_history').insert({
      device_id: id,
      event: 'retired',
      admin_key_id: actor.keyId,
      admin_key_name: actor.keyName,
    });
    return r.retired_at as Date;
  });
  // Every open job gets the rollout's cancel rules: one never started ends `Cancelled` now (should its
  // rollout start it later, the install ends at once on that final status); a running one is cancelled
  // through its workflow, which revokes its links and records `Cancelled`. The open jobs are read first,
  // so that an install started meanwhile is cancelled too.
  const open = await db('installations').where({ device_id: id, final: false }).select('workflow_id', 'rollout_id', 'device_id');
  let cancelled = (await cancelDeviceJobsNotStarted(db, id)).count;
  for (const job of open) {
    try {
      await temporal.workflow.getHandle(installWorkflowIdOf(job)).cancel();
      cancelled++;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue; // never started, or ended meanwhile
      throw unavailable('the workflow service is unavailable: the device is retired; retry to cancel its running jobs');
    }
  }
  return { retiredAt, cancelled };
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

/**
 * The device of a bearer token (`:tokenHash`; not retired) as CTE `device` (`stale`: its contact is
 * due), and that contact recorded (CTE `contact`, re-checked by the UPDATE: of concurrent requests only
 * one writes). A device request's own statement starts with these, so that authenticating it costs no
 * statement of its own; one that writes the device row itself (the sync) records the contact in its
 * own UPDATE instead (PostgreSQL updates a row once per statement).
 */
export const DEVICE_OF_TOKEN_SQL = `device AS (
  SELECT id, external_id, platform, ${STALE_CONTACT} AS stale FROM devices WHERE token_hash = :tokenHash AND retired_at IS NULL
)`;
export const CONTACT_OF_TOKEN_SQL = contactOfDeviceSql('SELECT id FROM device WHERE stale');

/**
 * CTE `contact`: the contact of the device `deviceIdQuery` selects (none: nothing) recorded when due,
 * for a statement that knows the device otherwise (a ticket link's).
 */
export function contactOfDeviceSql(deviceIdQuery: string): string {
  return `contact AS (
  UPDATE devices SET last_contact_at = now() WHERE id = (${deviceIdQuery}) AND ${STALE_CONTACT}
)`;
}
/** The contact column's new value in an UPDATE of the device row (the rule of `CONTACT_OF_TOKEN_SQL`). */
export const CONTACT_VALUE_SQL = `CASE WHEN ${STALE_CONTACT} THEN now() ELSE last_contact_at END`;

/** One statement: the lookup, and the contact when due. */
const AUTHENTICATE = new PreparedStatement<{ id: string; external_id: string; platform: string }>(
  'device.authenticate',
  `WITH ${DEVICE_OF_TOKEN_SQL}, ${CONTACT_OF_TOKEN_SQL}
SELECT id, external_id, platform FROM device LIMIT 1`,
);

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
  const [d] = await AUTHENTICATE.rows(db, { tokenHash: deviceTokenHash(token) });
  return d ? authedDeviceOf(d) : undefined;
}

/** How a device token is looked up (`:tokenHash` of `DEVICE_OF_TOKEN_SQL`). */
export const deviceTokenHash = (token: string): string => sha256Hex(token);

/** The device columns a statement starting with `DEVICE_OF_TOKEN_SQL` returns (null: no such device). */
export function authedDeviceOf(row: {
  id: string | null;
  external_id: string | null;
  platform: string | null;
}): AuthedDevice | undefined {
  return row.id === null ? undefined : { id: row.id, externalId: row.external_id ?? '', platform: row.platform ?? '' };
}
