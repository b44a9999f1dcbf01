/**
 * Admin keys with roles (`admin` | `operator` | `viewer`): issued (the key returned once, its SHA-256
 * stored), listed (never the keys), revoked, and checked on each admin request.
 */
import type { Db } from '../infra/db';
import { invalid, notFound } from './errors';
import { newSecret, sha256Hex } from './secrets';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** `have` allows what `need` allows: viewer < operator < admin. */
export const roleCovers = (have: Role, need: Role) => ROLES.indexOf(have) >= ROLES.indexOf(need);

export interface AdminKeyRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = ['id', 'name', 'role', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'];

/** A new key; `expiresAt` must lie in the future (`invalid` otherwise). */
export async function createAdminKey(
  db: Db,
  input: { name: string; role: Role; expiresAt?: Date },
): Promise<{ row: AdminKeyRow; key: string }> {
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) throw invalid('expiresAt: must lie in the future', 'expiresAt');
  const key = newSecret('dra');
  const [row] = await db('admin_keys')
    .insert({ name: input.name, role: input.role, expires_at: input.expiresAt ?? null, key_hash: sha256Hex(key) })
    .returning(COLUMNS);
  return { row: row as AdminKeyRow, key };
}

/** Every key, oldest first (a handful: no paging). */
export async function listAdminKeys(db: Db): Promise<AdminKeyRow[]> {
  return db('admin_keys')
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select(COLUMNS);
}

/** Revokes a key (idempotent); `not-found` for an unknown id. */
export async function revokeAdminKey(db: Db, id: string): Promise<AdminKeyRow> {
  const [row] = await db('admin_keys')
    .where({ id })
    .update({ revoked_at: db.raw('coalesce(revoked_at, now())') })
    .returning(COLUMNS);
  if (!row) throw notFound('admin key');
  return row as AdminKeyRow;
}

export type KeyCheck =
  | { status: 'valid'; id: string; name: string; role: Role }
  | { status: 'revoked' | 'expired'; id: string; name: string; role: Role };

/** The stored key of a secret, if issued: valid, revoked or expired. */
export async function checkAdminKey(db: Db, key: string): Promise<KeyCheck | undefined> {
  const row = await db('admin_keys')
    .where({ key_hash: sha256Hex(key) })
    .first('id', 'name', 'role', 'revoked_at', db.raw('(expires_at IS NOT NULL AND expires_at <= now()) as expired'));
  if (!row) return undefined;
  const who = { id: row.id as string, name: row.name as string, role: row.role as Role };
  if (row.revoked_at) return { status: 'revoked', ...who };
  if (row.expired) return { status: 'expired', ...who };
  return { status: 'valid', ...who };
}
