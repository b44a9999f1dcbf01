/**
 * Device authentication: `Authorization: Bearer <device token>` (issued at registration, stored as
 * its SHA-256). A valid token records the contact (services/devices.ts `authenticateDevice`) and puts
 * the device on the request; anything else is a 401 JSON error.
 */
import type { Request, RequestHandler } from 'express';
import type { Db } from '../../infra/db';
import { type AuthedDevice, authenticateDevice } from '../../services/devices';
import { bearer } from '../admin/admin-auth';
import { ApiError } from '../http/errors';

const DEVICE = Symbol('device');

export function requireDevice(db: Db): RequestHandler {
  return async (req, _res, next) => {
    try {
      const token = bearer(req.header('authorization'));
      if (!token) throw new ApiError(401, 'unauthorized', 'missing device token: send Authorization: Bearer <device token>');
      const d = await authenticateDevice(db, token);
      if (!d) throw new ApiError(401, 'unauthorized', 'invalid device token');
      (req as any)[DEVICE] = d satisfies AuthedDevice;
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
