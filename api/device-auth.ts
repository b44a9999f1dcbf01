/**
 * Device authentication: `Authorization: Bearer <device token>` (issued at registration, stored as
 * its SHA-256). A valid token records the contact (`last_contact_at`) and puts the device on the
 * request; anything else is a 401 JSON error.
 */
import type { Request, RequestHandler } from 'express';
import type { Db } from '../infra/db';
import { bearer, sha256Hex } from './auth';
import { ApiError } from './errors';

export interface AuthedDevice {
  id: string;
  externalId: string;
  platform: string;
}

const DEVICE = Symbol('device');

export function requireDevice(db: Db): RequestHandler {
  return async (req, _res, next) => {
    try {
      const token = bearer(req.header('authorization'));
      if (!token) throw new ApiError(401, 'unauthorized', 'missing device token: send Authorization: Bearer <device token>');
      const row = await db('devices')
        .where({ token_hash: sha256Hex(token) })
        .update({ last_contact_at: db.fn.now() })
        .returning(['id', 'external_id', 'platform']);
      const d = row[0];
      if (!d) throw new ApiError(401, 'unauthorized', 'invalid device token');
      (req as any)[DEVICE] = { id: d.id, externalId: d.external_id, platform: d.platform } satisfies AuthedDevice;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** The device `requireDevice` authenticated. */
export function deviceOf(req: Request): AuthedDevice {
  const d = (req as any)[DEVICE] as AuthedDevice | undefined;
  if (!d) throw new ApiError(401, 'unauthorized', 'device not authenticated');
  return d;
}

/** The authenticated device, if this request has one (for logging). */
export function authedDevice(req: Request): AuthedDevice | undefined {
  return (req as any)[DEVICE] as AuthedDevice | undefined;
}
