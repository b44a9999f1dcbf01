/**
 * Admin keys with roles and the audit log (issue 15), against the real stack with a worker:
 *  - POST/GET/DELETE /api/v1/admin-keys: the key shown once and stored hashed, never listed, a revoked
 *    or expired key refused with 403; the first-start key and ADMIN_API_KEY are admin;
 *  - a table-driven test over EVERY admin operation of the served OpenAPI document (a new route is in
 *    the document — test/unit/openapi.test.ts — and so in this table): each role refused with 403
 *    `forbidden` naming the role the document states, or let through, and no key → 401;
 *  - the audit log holds every state-changing and every refused request of that test, with key and
 *    outcome; it is append-only and the purge leaves it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurgeActivities } from '../../activities/purge';
import { ensureFirstAdminKey } from '../../services/secrets';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ROLES = ['viewer', 'operator', 'admin'] as const;
type Role = (typeof ROLES)[number];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function newKey(role: Role, name = `${role}-${randomUUID().slice(0, 8)}`) {
  const res = await stack.api('POST', '/api/v1/admin-keys', { name, role });
  expect(res.status).toBe(201);
  return res.body as { id: string; name: string; role: Role; key: string };
}

interface AuditEntry {
  id: string;
  keyName: string | null;
  status: number;
  route: string;
  path: string;
  targetIds: string[];
  body: any;
}

/** The id of the newest audit row (0n when none). */
async function newestAuditId(): Promise<bigint> {
  const [e] = (await stack.api('GET', '/api/v1/audit?limit=1')).body.entries;
  return BigInt(e?.id ?? 0);
}

/**
 * The audit row newer than `after` that `match` picks. A row is written once its request is answered,
 * so rows of requests answered close together may land in either order: never "the newest row".
 */
function auditRowAfter(after: bigint, what: string, match: (e: AuditEntry) => boolean): Promise<AuditEntry> {
  return until(what, async () => {
    const { entries } = (await stack.api('GET', '/api/v1/audit?limit=20')).body as { entries: AuditEntry[] };
    return entries.find((e) => BigInt(e.id) > after && match(e));
  });
}

describe('admin keys', () => {
  it('the first-start key is an admin key: it can issue keys', async () => {
    const first = await ensureFirstAdminKey(stack.db, undefined);
    expect(first).toMatch(/^dra_/);
    const row = await stack
      .db('admin_keys')
      .where({ key_hash: sha256(first!) })
      .first('role', 'name');
    expect(row).toEqual({ role: 'admin', name: 'first start' });
    const res = await stack.api('POST', '/api/v1/admin-keys', { name: 'by first', role: 'viewer' }, first);
    expect(res.status).toBe(201);
  });

  it('POST → 201 { id, name, role, key } shown once, stored hashed; GET lists without keys; DELETE revokes (403)', async () => {
    const created = await newKey('operator', 'ops desk');
    expect(created).toMatchObject({
      id: expect.any(String),
      name: 'ops desk',
      role: 'operator',
      expiresAt: null,
      revokedAt: null,
    });
    expect(created.key).toMatch(/^dra_[A-Za-z0-9_-]{43}$/);
    const row = await stack.db('admin_keys').where({ id: created.id }).first();
    expect(row.key_hash).toBe(sha256(created.key));
    expect(JSON.stringify(row)).not.toContain(created.key);

    const list = await stack.api('GET', '/api/v1/admin-keys');
    expect(list.status).toBe(200);
    expect(list.body.keys).toContainEqual(expect.objectContaining({ id: created.id, name: 'ops desk', role: 'operator' }));
    expect(JSON.stringify(list.body)).not.toMatch(/dra_|key_hash|keyHash/);

    expect((await stack.api('GET', '/api/v1/rollouts/' + randomUUID(), undefined, created.key)).status).toBe(404);
    const del = await stack.api('DELETE', `/api/v1/admin-keys/${created.id}`);
    expect(del.status).toBe(200);
    expect(del.body.revokedAt).toEqual(expect.any(String));
    const refused = await stack.api('GET', '/api/v1/devices', undefined, created.key);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/revoked/) });
    expect((await stack.api('DELETE', `/api/v1/admin-keys/${created.id}`)).status).toBe(200); // idempotent
    expect((await stack.api('DELETE', `/api/v1/admin-keys/${randomUUID()}`)).status).toBe(404);
  });

  it('an expired key is refused with 403; expiresAt must lie in the future', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const res = await stack.api('POST', '/api/v1/admin-keys', { name: 'temp', role: 'viewer', expiresAt: soon });
    expect(res.status).toBe(201);
    expect(res.body.expiresAt).toBe(soon);
    expect((await stack.api('GET', '/api/v1/devices', undefined, res.body.key)).status).toBe(200);
    await stack
      .db('admin_keys')
      .where({ id: res.body.id })
      .update({ expires_at: stack.db.raw("now() - interval '1 second'") });
    const refused = await stack.api('GET', '/api/v1/devices', undefined, res.body.key);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/expired/);
    const past = await stack.api('POST', '/api/v1/admin-keys', { name: 'x', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.field).toBe('expiresAt');
  });

  it.each([
    [{ role: 'viewer' }, 'name'],
    [{ name: 'x', role: 'root' }, 'role'],
    [{ name: '', role: 'admin' }, 'name'],
    [{ name: 'x', role: 'admin', expiresAt: 'tomorrow' }, 'expiresAt'],
    [{ name: 'x', role: 'admin', key: 'mine' }, undefined],
  ])('POST 400 for %j', async (body, field) => {
    const res = await stack.api('POST', '/api/v1/admin-keys', body);
    expect(res.status).toBe(400);
    if (field) expect(res.body.error.field).toBe(field);
  });
});

interface Sent {
  method: string;
  path: string;
  status: number;
  keyName: string | null;
}

describe('roles: every admin operation of the OpenAPI document, each role', () => {
  it('refused with 403 forbidden naming the role the document states, allowed otherwise; the audit log holds every request', async () => {
    const keys = { viewer: await newKey('viewer'), operator: await newKey('operator'), admin: await newKey('admin') };
    const since = new Date(Date.now() - 1000).toISOString();
    // the audit rows of this test are those after the rows of the three keys (each written once its
    // request was answered: in either order)
    const keyRows = await Promise.all(
      Object.values(keys).map((k) => auditRowAfter(0n, `the audit row of the key ${k.name}`, (e) => e.targetIds.includes(k.id))),
    );
    const firstId = Math.max(...keyRows.map((e) => Number(e.id))) + 1;
    const doc = (await stack.api('GET', '/openapi.json', undefined, null)).body;
    const ops: { method: string; path: string; role: Role }[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        if (op.security !== undefined) continue; // device, public and callback operations
        expect(ROLES, `${method} ${path}: x-required-role`).toContain(op['x-required-role']);
        expect(op.description).toContain(`Role: \`${op['x-required-role']}\``);
        ops.push({ method: method.toUpperCase(), path, role: op['x-required-role'] });
      }
    }
    // every admin route family is in the table (the unit test ties the document to the app's routes)
    expect(ops.length).toBeGreaterThanOrEqual(24);
    for (const must of [
      'POST /api/v1/admin-keys',
      'GET /api/v1/audit',
      'DELETE /api/v1/devices/{id}',
      'POST /api/v1/rollouts/{id}/cancel',
    ]) {
      expect(ops.map((o) => `${o.method} ${o.path}`)).toContain(must);
    }
    expect(ops.filter((o) => o.method === 'GET').every((o) => o.role === 'viewer' || /admin-keys|audit/.test(o.path))).toBe(true);

    const sent: Sent[] = [];
    const rank = (r: Role) => ROLES.indexOf(r);
    for (const op of ops) {
      const path = op.path.replace(/\{\w+\}/g, () => randomUUID());
      const body = op.method === 'GET' || op.method === 'DELETE' ? undefined : {};
      const none = await stack.api(op.method, path, body, null);
      expect(none.status, `${op.method} ${op.path} without a key`).toBe(401);
      sent.push({ method: op.method, path, status: 401, keyName: null });
      for (const role of ROLES) {
        const res = await stack.api(op.method, path, body, keys[role].key);
        sent.push({ method: op.method, path, status: res.status, keyName: keys[role].name });
        const what = `${op.method} ${op.path} as ${role} (needs ${op.role}): ${res.status} ${JSON.stringify(res.body)}`;
        if (rank(role) < rank(op.role)) {
          expect(res.status, what).toBe(403);
          expect(res.body.error, what).toMatchObject({ code: 'forbidden' });
          expect(res.body.error.message, what).toContain(`needs the role ${op.role}`);
        } else {
          expect(res.status, what).not.toBe(401);
          expect(res.status, what).not.toBe(403);
          expect(res.status, what).toBeLessThan(500);
        }
      }
    }
    // ADMIN_API_KEY is admin: it passes the admin-only operations
    for (const op of ops.filter((o) => o.role === 'admin' && o.method === 'GET')) {
      expect((await stack.api('GET', op.path)).status).toBe(200);
    }

    // the audit log: every state-changing request and every refused one of the table, nothing else
    const expected = sent
      .filter((s) => s.method !== 'GET' || s.status === 401 || s.status === 403)
      .map((s) => `${s.method} ${s.path} ${s.status} ${s.keyName}`)
      .sort();
    const paths = new Set(sent.map((s) => s.path));
    const readOurs = async () => {
      const recorded: any[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: any } = await stack.api(
          'GET',
          `/api/v1/audit?since=${encodeURIComponent(since)}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(page.status).toBe(200);
        recorded.push(...page.body.entries);
        cursor = page.body.nextCursor;
      } while (cursor);
      return recorded.filter((e) => Number(e.id) >= firstId);
    };
    // rows are written once each answer is sent: wait for the last ones
    const ours = await until('the audit rows of the table', async () => {
      const r = await readOurs();
      return r.length >= expected.length ? r : undefined;
    });
    expect(ours.every((e) => paths.has(e.path))).toBe(true);
    expect(ours.map((e) => `${e.method} ${e.path} ${e.status} ${e.keyName}`).sort()).toEqual(expected);
    for (const e of ours) {
      if (e.keyName === null) expect(e).toMatchObject({ keyId: null, role: null, status: 401 });
      else {
        const k = Object.values(keys).find((x) => x.name === e.keyName)!;
        expect(e).toMatchObject({ keyId: k.id, role: k.role });
      }
      expect(e.route).toMatch(/^\/api\/v1\//);
    }
    // the route pattern and the target ids are recorded
    const del = ours.find((e) => e.method === 'DELETE' && e.route === '/api/v1/devices/:id' && e.keyName === keys.admin.name);
    expect(del).toBeDefined();
    expect(del.targetIds).toEqual([del.path.split('/').pop()]);
    const byTarget = await stack.api('GET', `/api/v1/audit?targetId=${del.targetIds[0]}`);
    expect(byTarget.body.entries.map((e: any) => e.id)).toContain(del.id);
    const byKey = await stack.api('GET', `/api/v1/audit?keyId=${keys.viewer.id}&limit=1000`);
    expect(byKey.body.entries.length).toBe(ours.filter((e) => e.keyName === keys.viewer.name).length);
  }, 300_000);
});

describe('the audit log', () => {
  it('records a created rollout with its body (no secrets) and its targets', async () => {
    const after = await newestAuditId();
    const res = await stack.api('POST', '/api/v1/rollouts', { softwareId: randomUUID(), devices: { filter: { tags: ['x'] } } });
    expect(res.status).toBe(400);
    const entry = await auditRowAfter(after, 'the audit row of the rollout request', (e) => e.route === '/api/v1/rollouts');
    expect(entry).toMatchObject({
      method: 'POST',
      route: '/api/v1/rollouts',
      status: 400,
      keyName: 'ADMIN_API_KEY',
      role: 'admin',
      body: { devices: { filter: { tags: ['x'] } } },
    });
  });

  it('records requests whose body or path hold NUL characters (PostgreSQL text cannot), and huge bodies by size', async () => {
    const marker = randomUUID();
    const res = await stack.api('POST', '/api/v1/rollouts/preview', { softwareId: marker, notify: ['a\u0000b'], 'k\u0000': 1 });
    expect(res.status).toBe(400);
    const entry = await auditRowAfter(0n, 'the audit row with NUL', (e) => e.body?.softwareId === marker);
    expect(entry.body).toEqual({ softwareId: marker, notify: ['a\ufffdb'], 'k\ufffd': 1 });
    const big = await stack.api('POST', '/api/v1/rollouts/preview', { softwareId: randomUUID(), notify: ['x'.repeat(100_000)] });
    expect(big.status).toBe(400);
    const bigEntry = await auditRowAfter(BigInt(entry.id), 'the audit row of the big body', (e) => e.body?.truncated === true);
    expect(bigEntry.body).toEqual({ truncated: true, size: expect.any(Number) });
  });

  it('records requests the body parser refuses, with the key of their Authorization header; not device requests', async () => {
    const viewer = await newKey('viewer');
    for (const [key, name] of [
      [stack.adminKey, 'ADMIN_API_KEY'],
      [viewer.key, viewer.name],
    ] as const) {
      const after = await newestAuditId();
      const marker = `/api/v1/devices?m=${randomUUID()}`;
      const res = await fetch(`${stack.baseUrl}${marker}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: '{"devices": [',
      });
      expect(res.status).toBe(400);
      // another admin request answered right after it: its row may land first or last
      const other = await newKey('viewer');
      const entry = await auditRowAfter(
        after,
        'the audit row of the malformed request',
        (e) => e.keyName === name && e.status === 400 && e.route === '/api/v1/devices',
      );
      expect(entry).toMatchObject({ method: 'POST', path: '/api/v1/devices', keyName: name });
      await auditRowAfter(after, 'the audit row of the other request', (e) => e.targetIds.includes(other.id));
    }
    const reg = await stack.api('POST', '/api/v1/devices', { devices: [{ externalId: `a-${randomUUID()}`, platform: 'ios' }] });
    const registration = await auditRowAfter(0n, 'the registration row', (e) => e.targetIds.includes(reg.body.devices[0].id));
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, reg.body.devices[0].token)).status).toBe(200);
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: {} }, 'drd_wrong')).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    const { entries } = (await stack.api('GET', '/api/v1/audit?limit=20')).body as { entries: AuditEntry[] };
    expect(entries.filter((e) => BigInt(e.id) > BigInt(registration.id))).toEqual([]);
  });

  it('is append-only and outlives the purge of ended jobs', async () => {
    await stack.db('audit_log').insert({
      at: stack.db.raw("now() - interval '30 days'"),
      method: 'POST',
      route: '/api/v1/old',
      path: '/api/v1/old',
      status: 201,
    });
    await createPurgeActivities({ db: stack.db }).purgeEndedJobs({ retentionMs: 7 * 86_400_000, batchSize: 1000 });
    expect(await stack.db('audit_log').where({ route: '/api/v1/old' }).first('id')).toBeDefined();
    await expect(stack.db('audit_log').where({ route: '/api/v1/old' }).update({ status: 500 })).rejects.toThrow(/append-only/);
    await expect(stack.db('audit_log').where({ route: '/api/v1/old' }).delete()).rejects.toThrow(/append-only/);
  });

  it.each([
    ['keyId=nope', 'keyId'],
    ['since=yesterday', 'since'],
    ['limit=0', 'limit'],
    ['cursor=!!', 'cursor'],
  ])('GET /audit 400 for %s', async (q, field) => {
    const res = await stack.api('GET', `/api/v1/audit?${q}`);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe(field);
  });
});
