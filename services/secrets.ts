/**
 * The secrets DeviceRollout issues — admin keys (`dra_…`) and device tokens (`drd_…`) — of which only
 * the SHA-256 is stored, and the first admin key (role `admin`) made on a first start. Keys are checked
 * and issued by services/admin-keys.ts.
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
    await trx('admin_keys').insert({ name: 'first start', role: 'admin', key_hash: sha256Hex(key) });
    return key;
  });
}
