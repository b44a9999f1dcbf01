/**
 * Admin authentication, roles and the audit log of the /api/v1 routes.
 *  - `requireAdmin`: the `ADMIN_API_KEY` from the environment (role admin) or a key stored in
 *    admin_keys (services/admin-keys.ts). 401 without a valid key, 403 for a revoked or expired one,
 *    403 `forbidden` naming the role a request needs beyond the key's role (`roleFor`).
 *  - every state-changing request and every refused one is recorded in the audit log when its answer
 *    is sent (services/audit.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Db } from '../../infra/db';
import { checkAdminKey, type Role, roleCovers } from '../../services/admin-keys';
import { recordAudit } from '../../services/audit';
import { sha256Hex } from '../../services/secrets';
import { ApiError } from '../http/errors';

export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(sha256Hex(a));
  const y = Buffer.from(sha256Hex(b));
  return timingSafeEqual(x, y);
}

/**
 * The role an admin request needs (the OpenAPI document states it per operation from the same rule):
 * every GET is `viewer`; creating, previewing and controlling rollouts (everything else under
 * /rollouts, and cancelling one job) is `operator`; everything else — devices, software, keys, diagnostics — is `admin`.
 * `path` is relative to /api/v1.
 */
export function roleFor(method: string, path: string): Role {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return /^\/(admin-keys|audit)(\/|$)/.test(path) ? 'admin' : 'viewer';
  if (/^\/rollouts(\/|$)/.test(path) || /^\/installations\/[^/]+\/cancel$/.test(path)) return 'operator';
  return 'admin';
}

/** The key of an admin request. */
export interface AdminPrincipal {
  keyId: string | null;
  keyName: string;
  role: Role;
}

const PRINCIPAL = Symbol('admin');

/** The key `requireAdmin` accepted (or the key that was refused, for the audit log). */
export function principalOf(req: Request): AdminPrincipal {
  const p = (req as any)[PRINCIPAL] as AdminPrincipal | undefined;
  if (!p) throw new ApiError(401, 'unauthorized', 'admin key not authenticated');
  return p;
}

/** Target ids of the audit record: path ids, rollout/software ids of the body, ids the answer created. */
const TARGETS = Symbol('targets');
export function addAuditTargets(req: Request, ...ids: (string | null | undefined)[]): void {
  const r = req as any;
  if (!r[TARGETS]) r[TARGETS] = [];
  for (const id of ids) if (typeof id === 'string' && id) (r[TARGETS] as string[]).push(id);
}

const SECRET_FIELD = /key|token|secret|password/i;
/** PostgreSQL text and jsonb cannot hold NUL. */
const storable = (s: string) => s.replaceAll('\u0000', '\ufffd');
/** Bodies above this size are recorded by size only. */
const MAX_AUDIT_BODY = 64 * 1024;

function withoutSecrets(v: unknown, depth = 0): unknown {
  if (depth > 20) return null;
  if (typeof v === 'string') return storable(v);
  if (Array.isArray(v)) return v.map((x) => withoutSecrets(x, depth + 1));
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [
        storable(k),
        SECRET_FIELD.test(k) ? '[redacted]' : withoutSecrets(x, depth + 1),
      ]),
    );
  }
  return v;
}

function auditBody(body: object): unknown {
  const clean = withoutSecrets(body);
  const size = JSON.stringify(clean)?.length ?? 0;
  return size > MAX_AUDIT_BODY ? { truncated: true, size } : clean;
}

/** The key of a bearer secret: ADMIN_API_KEY, a stored key (with its status), or undefined. */
async function identify(
  db: Db,
  envKey: string | undefined,
  key: string,
): Promise<(AdminPrincipal & { status: 'valid' | 'revoked' | 'expired' }) | undefined> {
  if (envKey && sameSecret(key, envKey)) return { keyId: null, keyName: 'ADMIN_API_KEY', role: 'admin', status: 'valid' };
  const k = await checkAdminKey(db, key);
  return k ? { keyId: k.id, keyName: k.name, role: k.role, status: k.status } : undefined;
}

/**
 * The audit trail of the admin API (mounted on /api/v1 before the body parser, so that requests the
 * parser refuses are recorded too; the device routes below /api/v1/device are not admin requests):
 * each state-changing request (any outcome) and each refused one (401/403) is recorded once answered,
 * with the key `requireAdmin` identified — or, when the request never got that far, the key its
 * Authorization header names.
 */
export function auditAdminRequests(db: Db, envKey: string | undefined, log: (msg: string, err: unknown) => void): RequestHandler {
  return (req, _res, next) => {
    if (!/^\/device(\/|$)/.test(req.path)) auditOnFinish(db, envKey, req, log);
    next();
  };
}

function auditOnFinish(db: Db, envKey: string | undefined, req: Request, log: (msg: string, err: unknown) => void): void {
  const method = req.method.toUpperCase();
  // the routers restore baseUrl / url when an error leaves them: keep them as seen here
  const base = req.baseUrl;
  const path = req.path;
  req.res?.on('finish', async () => {
    const status = req.res?.statusCode ?? 0;
    const changing = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
    if (!changing && status !== 401 && status !== 403) return;
    let p = (req as any)[PRINCIPAL] as AdminPrincipal | undefined;
    const key = bearer(req.header('authorization'));
    if (!p && key) p = await identify(db, envKey, key).catch(() => undefined);
    const route = typeof req.route?.path === 'string' ? `${base}${req.route.path}` : `${base}${path}`;
    // path ids are uuids (api/http/validation.ts pathId); req.params is gone once an error left the router
    const inPath = path.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? [];
    const targets = [...inPath.map((id) => id.toLowerCase()), ...(((req as any)[TARGETS] as string[] | undefined) ?? [])];
    const isRollout = /^\/rollouts(\/|$)/.test(path);
    recordAudit(db, {
      keyId: p?.keyId ?? null,
      keyName: p?.keyName ?? null,
      role: p?.role ?? null,
      method,
      route: storable(route),
      path: storable(`${base}${path}`),
      targetIds: targets.filter((t) => typeof t === 'string' && t.length <= 200),
      status,
      body: isRollout && req.body && typeof req.body === 'object' ? auditBody(req.body) : undefined,
    }).catch((err) => log('audit log: could not record a request', err));
  });
}

/**
 * Admin authentication and authorization (`auditAdminRequests` records the outcome). 401 without
 * a valid key, 403 `forbidden` for a revoked / expired key or a request beyond the key's role.
 */
export function requireAdmin(db: Db, envKey: string | undefined): RequestHandler {
  return async (req, _res, next) => {
    try {
      const key = bearer(req.header('authorization'));
      if (!key) throw new ApiError(401, 'unauthorized', 'missing admin key: send Authorization: Bearer <admin key>');
      const k = await identify(db, envKey, key);
      if (!k) throw new ApiError(401, 'unauthorized', 'invalid admin key');
      const principal: AdminPrincipal = { keyId: k.keyId, keyName: k.keyName, role: k.role };
      (req as any)[PRINCIPAL] = principal;
      if (k.status !== 'valid') {
        throw new ApiError(403, 'forbidden', `this admin key has ${k.status === 'revoked' ? 'been revoked' : 'expired'}`);
      }
      const need = roleFor(req.method, req.path);
      if (!roleCovers(principal.role, need)) {
        throw new ApiError(
          403,
          'forbidden',
          `this request needs the role ${need}; the key "${principal.keyName}" has the role ${principal.role}`,
        );
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}
