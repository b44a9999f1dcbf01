/** Admin authentication of the /api/v1 routes (bearer admin keys; see services/secrets.ts for issuing them). */
import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Db } from '../../infra/db';
import { adminKeyStatus, sha256Hex } from '../../services/secrets';
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
 * Admin authentication: the `ADMIN_API_KEY` from the environment, or a key whose SHA-256 is stored
 * in admin_keys. 401 without a valid key, 403 for a revoked one.
 */
export function requireAdmin(db: Db, envKey?: string): RequestHandler {
  return async (req, _res, next) => {
    try {
      const key = bearer(req.header('authorization'));
      if (!key) throw new ApiError(401, 'unauthorized', 'missing admin key: send Authorization: Bearer <admin key>');
      if (envKey && sameSecret(key, envKey)) return next();
      const status = await adminKeyStatus(db, key);
      if (!status) throw new ApiError(401, 'unauthorized', 'invalid admin key');
      if (status === 'revoked') throw new ApiError(403, 'forbidden', 'this admin key has been revoked');
      next();
    } catch (err) {
      next(err);
    }
  };
}
