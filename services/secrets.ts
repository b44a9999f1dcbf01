/**
 * The secrets DeviceRollout issues — admin keys (`dra_…`) and device tokens (`drd_…`) — of which only
 * the SHA-256 is stored, the first admin key made on a first start, and the check of an admin key.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../infra/db';

export const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** A new random secret with a readable prefix (admin keys: `dra_…`, device tokens: `drd_…`). */
export function newSecret(prefix: 'dra' | 'drd'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * Creates the first admin key when none exists and none is configured. Returns the key (to print
 * once) or undefined. Concurrent starts create at most one key (advisory lock).
 */
export async function ensureFirstAdminKey(db: Db, envKey?: string): Promise<string | undefined> {
  if (envKey) return undefined;
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(hashtext(?))', ['admin_keys.first']);
    const existing = await trx('admin_keys').first('id');
    if (existing) return undefined;
    const key = newSecret('dra');
    await trx('admin_keys').insert({ name: 'first start', key_hash: sha256Hex(key) });
    return key;
  });
}

/** A stored admin key: 'valid', 'revoked', or undefined when no such key was issued. */
export async function adminKeyStatus(db: Db, key: string): Promise<'valid' | 'revoked' | undefined> {
  const row = await db('admin_keys')
    .where({ key_hash: sha256Hex(key) })
    .first('id', 'revoked_at');
  if (!row) return undefined;
  return row.revoked_at ? 'revoked' : 'valid';
}
