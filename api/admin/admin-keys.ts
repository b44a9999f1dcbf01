/**
 * Admin keys and the audit log (role admin):
 *  - `POST /api/v1/admin-keys` `{ name, role, expiresAt? }` → 201 `{ id, name, role, key }` (the key
 *    shown once, stored as its SHA-256);
 *  - `GET /api/v1/admin-keys` every key without its secret; `DELETE /api/v1/admin-keys/:id` revokes;
 *  - `GET /api/v1/audit?keyId=&targetId=&since=&limit=&cursor=` the audit log, newest first.
 */
import { Router } from 'express';
import { z } from 'zod';
import { isoOrNull } from '../../domain/time';
import { type AdminKeyRow, createAdminKey, listAdminKeys, ROLES, revokeAdminKey } from '../../services/admin-keys';
import { listAudit } from '../../services/audit';
import type { ApiContext } from '../context';
import { badRequest } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { addAuditTargets } from './admin-auth';

/** `POST /api/v1/admin-keys`. */
export const adminKeyRequestSchema = z.strictObject({
  name: z.string({ error: 'must be a name' }).trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  role: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }),
  expiresAt: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time (e.g. 2027-01-01T00:00:00Z)' })
    .optional()
    .describe('The key stops working then (403); none: until revoked.'),
});

function keyJson(k: AdminKeyRow) {
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    createdAt: isoOrNull(k.created_at),
    expiresAt: isoOrNull(k.expires_at),
    revokedAt: isoOrNull(k.revoked_at),
  };
}

export function adminKeyRoutes({ db }: ApiContext): Router {
  const r = Router();

  r.post('/admin-keys', async (req, res) => {
    const body = parse(adminKeyRequestSchema, req.body ?? {});
    const { row, key } = await createAdminKey(db, {
      name: body.name,
      role: body.role,
      expiresAt: body.expiresAt ? new Date(body.expiresAt) : undefined,
    });
    addAuditTargets(req, row.id);
    res.status(201).json({ ...keyJson(row), key });
  });

  r.get('/admin-keys', async (_req, res) => {
    res.json({ keys: (await listAdminKeys(db)).map(keyJson) });
  });

  r.delete('/admin-keys/:id', async (req, res) => {
    const row = await revokeAdminKey(db, pathId(req.params.id, 'admin key'));
    res.json(keyJson(row));
  });

  r.get('/audit', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const keyId = queryValue(query, 'keyId');
    if (keyId !== undefined && !z.uuid().safeParse(keyId).success)
      throw badRequest('keyId: must be an admin key id (uuid)', 'keyId');
    const targetId = queryValue(query, 'targetId');
    if (targetId !== undefined && targetId.length > 200) throw badRequest('targetId: at most 200 characters', 'targetId');
    const sinceRaw = queryValue(query, 'since');
    let since: Date | undefined;
    if (sinceRaw !== undefined) {
      if (!z.iso.datetime({ offset: true }).safeParse(sinceRaw).success) {
        throw badRequest('since: must be an ISO 8601 date-time (e.g. 2027-01-01T00:00:00Z)', 'since');
      }
      since = new Date(sinceRaw);
    }
    const limit = pageLimit(query, 100, 1000);
    const cursor = decodeCursor(query, 1);
    if (cursor && typeof cursor[0] !== 'string') throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    const { entries, next } = await listAudit(db, {
      keyId: keyId?.toLowerCase(),
      targetId,
      since,
      limit,
      after: cursor ? String(cursor[0]) : undefined,
    });
    res.json({
      entries: entries.map((e) => ({
        id: String(e.id),
        at: isoOrNull(e.at),
        keyId: e.key_id,
        keyName: e.key_name,
        role: e.role,
        method: e.method,
        route: e.route,
        path: e.path,
        targetIds: e.target_ids,
        status: e.status,
        body: e.body ?? null,
      })),
      nextCursor: next ? encodeCursor([next]) : null,
    });
  });

  return r;
}
