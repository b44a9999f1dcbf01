/**
 * The DM server's per-device state in PostgreSQL (table `dm_devices`, migration 20261121000006_dm):
 * the protocol state (session-model.ts) without the passwords, which are stored encrypted. Rows are
 * read `FOR UPDATE`, so one device's messages serialize and any API instance can serve the next one.
 * Nothing here logs, and no error message carries a secret.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { DmDeviceState } from './session-model';

export const DM_SECRET_KEY_FILE = 'dm-secret.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const SEAL_VERSION = 'v1';

// ---------------------------------------------------------------------------------------------
// Key
// ---------------------------------------------------------------------------------------------

/** DM_SECRET_KEY → 32-byte key: 64 hex digits are the key itself, anything else a passphrase. */
export function deriveDmKey(secret: string): Buffer {
  const t = secret.trim();
  if (/^[0-9a-f]{64}$/i.test(t)) return Buffer.from(t, 'hex');
  if (t.length < 16) throw new Error('DM_SECRET_KEY must be 64 hex digits or a passphrase of at least 16 characters');
  return scryptSync(t, 'devicerollout/dm-secret-key/v1', KEY_BYTES);
}

function parseKeyFile(text: string, file: string): Buffer {
  const t = text.trim();
  if (!/^[0-9a-f]{64}$/i.test(t)) throw new Error(`${file} does not hold a DM secret key (64 hex digits)`);
  return Buffer.from(t, 'hex');
}

async function readOrCreateKeyFile(file: string): Promise<Buffer> {
  try {
    return parseKeyFile(await fs.readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const hex = randomBytes(KEY_BYTES).toString('hex');
  // Written completely under a temporary name, then linked into place: a concurrent starter (API and
  // worker) either wins the link or reads the complete file of the winner.
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, `${hex}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return Buffer.from(hex, 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return parseKeyFile(await fs.readFile(file, 'utf8'), file);
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

const keyCache = new Map<string, Promise<Buffer>>();

/**
 * The key that seals DM credentials, cached per source: DM_SECRET_KEY (`secretKey`) when set, else a
 * random key generated once into `DATA_DIR/dm-secret.key` (mode 0600) and read from there afterwards.
 * API and worker must see the same key (same DATA_DIR, or set DM_SECRET_KEY).
 */
export function loadDmSecretKey(opts: { secretKey?: string; dataDir: string }): Promise<Buffer> {
  const id = opts.secretKey
    ? `env:${createHash('sha256').update(opts.secretKey).digest('hex')}`
    : `file:${path.resolve(opts.dataDir, DM_SECRET_KEY_FILE)}`;
  let p = keyCache.get(id);
  if (!p) {
    p = opts.secretKey
      ? Promise.resolve().then(() => deriveDmKey(opts.secretKey as string))
      : readOrCreateKeyFile(path.resolve(opts.dataDir, DM_SECRET_KEY_FILE));
    keyCache.set(id, p);
    p.catch(() => keyCache.delete(id));
  }
  return p;
}

export class DmSecretError extends Error {
  override readonly name = 'DmSecretError';
}

/**
 * AES-256-GCM sealing of short secrets (`v1.<iv>.<ciphertext>.<tag>`, base64url), bound to a context
 * string (row + column) as additional data: a sealed value copied to another row does not open. The
 * two passwords of a DM account (CLIENT, and APPSRV which also keys Package #0) are needed in clear
 * for md5 digests, so they are sealed rather than hashed.
 */
export class DmSecretBox {
  private readonly key: Buffer;
  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new DmSecretError(`the DM secret key must be ${KEY_BYTES} bytes`);
    this.key = Buffer.from(key);
  }

  seal(plain: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return [SEAL_VERSION, iv.toString('base64url'), ct.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== SEAL_VERSION) throw new DmSecretError('not a sealed DM secret');
    const [, iv, ct, tag] = parts as [string, string, string, string];
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new DmSecretError(
        'a DM credential cannot be decrypted: DM_SECRET_KEY (or DATA_DIR/dm-secret.key) is not the key it was stored with',
      );
    }
  }
}

export async function dmSecretBox(opts: { secretKey?: string; dataDir: string }): Promise<DmSecretBox> {
  return new DmSecretBox(await loadDmSecretKey(opts));
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

/** A device's DM record, passwords in clear (in memory only). */
export interface DmDeviceRecord {
  deviceId: string;
  clientUsername: string;
  deviceUri: string | null;
  state: DmDeviceState;
  bootstrapKey: string | null;
  bootstrapSentAt: Date | null;
  bootstrappedAt: Date | null;
}

export interface DmDeviceRow {
  device_id: string;
  client_username: string;
  device_uri: string | null;
  client_secret: string;
  server_secret: string | null;
  state: unknown;
  bootstrap_key: string | null;
  bootstrap_sent_at: Date | null;
  bootstrapped_at: Date | null;
  last_session_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const clientContext = (deviceId: string) => `dm_devices/${deviceId}/client_secret`;
const serverContext = (deviceId: string) => `dm_devices/${deviceId}/server_secret`;

/** The state as stored: a deep copy without the passwords. */
export function stripSecrets(state: DmDeviceState): unknown {
  const copy = structuredClone(state) as unknown as { account: Record<string, unknown> };
  delete copy.account.clientPassword;
  delete copy.account.serverPassword;
  return copy;
}

export function recordFromRow(row: DmDeviceRow, box: DmSecretBox): DmDeviceRecord {
  const stored = (typeof row.state === 'string' ? JSON.parse(row.state) : row.state) as DmDeviceState;
  const state = structuredClone(stored);
  state.account.clientPassword = box.open(row.client_secret, clientContext(row.device_id));
  if (row.server_secret) state.account.serverPassword = box.open(row.server_secret, serverContext(row.device_id));
  else delete state.account.serverPassword;
  return {
    deviceId: row.device_id,
    clientUsername: row.client_username,
    deviceUri: row.device_uri,
    state,
    bootstrapKey: row.bootstrap_key,
    bootstrapSentAt: row.bootstrap_sent_at,
    bootstrappedAt: row.bootstrapped_at,
  };
}

export function rowFromRecord(
  rec: DmDeviceRecord,
  box: DmSecretBox,
): Omit<DmDeviceRow, 'created_at' | 'updated_at' | 'last_session_at'> {
  const { clientPassword, serverPassword } = rec.state.account;
  if (!clientPassword) throw new DmSecretError('a DM account needs a client password');
  return {
    device_id: rec.deviceId,
    client_username: rec.clientUsername,
    device_uri: rec.deviceUri,
    client_secret: box.seal(clientPassword, clientContext(rec.deviceId)),
    server_secret: serverPassword ? box.seal(serverPassword, serverContext(rec.deviceId)) : null,
    state: stripSecrets(rec.state),
    bootstrap_key: rec.bootstrapKey,
    bootstrap_sent_at: rec.bootstrapSentAt,
    bootstrapped_at: rec.bootstrappedAt,
  };
}

/** Scheme prefixes of SyncHdr Source LocURIs that wrap a device's external id (IMEI:…, MEID:…). */
const URI_SCHEME = /^(imei|meid|esn|imsi|mac|uuid|urn:uuid):/i;

/** External ids a Source LocURI may stand for: the URI itself and without its IMEI:/MEID:/… prefix. */
export function externalIdCandidates(deviceUri: string): string[] {
  const t = deviceUri.trim();
  const bare = t.replace(URI_SCHEME, '');
  return bare !== t && bare !== '' ? [t, bare] : [t];
}

/** The record of a device, its row locked until the transaction ends. */
export async function lockDmDevice(
  trx: Knex.Transaction,
  deviceId: string,
  box: DmSecretBox,
): Promise<DmDeviceRecord | undefined> {
  const row = (await trx('dm_devices').where({ device_id: deviceId }).forUpdate().first()) as DmDeviceRow | undefined;
  return row ? recordFromRow(row, box) : undefined;
}

/**
 * The record a client message belongs to, row locked: by the account's username (SyncHdr
 * Source/LocName or the x-syncml-hmac username), else by the Source LocURI the device authenticated
 * with before, else by the device's external id inside that URI (IMEI:<external id>).
 */
export async function lockDmDeviceForMessage(
  trx: Knex.Transaction,
  hints: { username?: string; deviceUri: string },
  box: DmSecretBox,
): Promise<DmDeviceRecord | undefined> {
  let row: DmDeviceRow | undefined;
  if (hints.username) {
    row = await trx('dm_devices').where({ client_username: hints.username }).forUpdate().first();
  }
  if (!row && hints.deviceUri) {
    row = await trx('dm_devices').where({ device_uri: hints.deviceUri }).orderBy('updated_at', 'desc').forUpdate().first();
  }
  if (!row && hints.deviceUri) {
    row = await trx('dm_devices as dm')
      .join('devices as d', 'd.id', 'dm.device_id')
      .whereIn('d.external_id', externalIdCandidates(hints.deviceUri))
      .select('dm.*')
      .forUpdate('dm')
      .first();
  }
  return row ? recordFromRow(row, box) : undefined;
}

/** Inserts or updates the record (passwords sealed, state without them). */
export async function saveDmDevice(
  db: Knex | Knex.Transaction,
  rec: DmDeviceRecord,
  box: DmSecretBox,
  extra: { lastSessionAt?: boolean } = {},
): Promise<void> {
  const row = rowFromRecord(rec, box);
  const values = {
    ...row,
    state: JSON.stringify(row.state),
    updated_at: db.fn.now(),
    ...(extra.lastSessionAt ? { last_session_at: db.fn.now() } : {}),
  };
  await db('dm_devices').insert(values).onConflict('device_id').merge();
}
