/**
 * The audit log: one row per state-changing admin request and per refused one (who, what, the
 * outcome). Append-only: the API only inserts and reads; the table itself refuses UPDATE and DELETE
 * (trigger of migrations/20261201000009_fleet.ts), and the 7-day purge does not touch it.
 */
import type { Db } from '../infra/db';
import { invalid } from './errors';

export interface AuditEntry {
  keyId: string | null;
  keyName: string | null;
  role: string | null;
  method: string;
  /** The route pattern (`/api/v1/devices/:id`); the path when no route matched. */
  route: string;
  path: string;
  targetIds: string[];
  status: number;
  body?: unknown;
}

export async function recordAudit(db: Db, e: AuditEntry): Promise<void> {
  await db('audit_log').insert({
    key_id: e.keyId,
    key_name: e.keyName,
    role: e.role,
    method: e.method,
    route: e.route,
    path: e.path,
    target_ids: [...new Set(e.targetIds)],
    status: e.status,
    body: e.body === undefined ? null : JSON.stringify(e.body),
  });
}

export interface AuditRow {
  id: string;
  at: Date;
  key_id: string | null;
  key_name: string | null;
  role: string | null;
  method: string;
  route: string;
  path: string;
  target_ids: string[];
  status: number;
  body: unknown;
}

/** Newest first, `limit` rows after the row `after` (its id); the id of the page's last row when more follow. */
export async function listAudit(
  db: Db,
  q: { keyId?: string; targetId?: string; since?: Date; limit: number; after?: string },
): Promise<{ entries: AuditRow[]; next: string | null }> {
  if (q.after !== undefined && !/^\d{1,18}$/.test(q.after)) throw invalid('cursor: not a cursor returned by this list', 'cursor');
  const query = db('audit_log')
    .orderBy('id', 'desc')
    .limit(q.limit + 1)
    .select('id', 'at', 'key_id', 'key_name', 'role', 'method', 'route', 'path', 'target_ids', 'status', 'body');
  if (q.keyId) query.where('key_id', q.keyId);
  if (q.targetId) query.whereRaw('target_ids @> ARRAY[?]::text[]', [q.targetId]);
  if (q.since) query.where('at', '>=', q.since);
  if (q.after !== undefined) query.where('id', '<', q.after);
  const rows = (await query) as AuditRow[];
  const entries = rows.slice(0, q.limit);
  const last = entries[entries.length - 1];
  return { entries, next: rows.length > q.limit && last ? String(last.id) : null };
}
