/**
 * Device authentication: `Authorization: Bearer <device token>` (issued at registration, stored as
 * its SHA-256); anything else is a 401 JSON error. The sync and report routes authenticate inside
 * their own statement (services/devices.ts `DEVICE_OF_TOKEN_SQL`: one statement per request, the
 * contact recorded in it); every other device route goes through `requireDevice` first.
 */
import type { Request, RequestHandler } from 'express';
import type { Db } from '../../infra/db';
import { type AuthedDevice, authenticateDevice } from '../../services/devices';
import { bearer } from '../admin/admin-auth';
import { ApiError } from '../http/errors';

const DEVICE = Symbol('device');

/** The request's device token; 401 without one. */
export function deviceToken(req: Request): string {
  const token = bearer(req.header('authorization'));
  if (!token) throw new ApiError(401, 'unauthorized', 'missing device token: send Authorization: Bearer <device token>');
  return token;
}

/**
 * The outcome of a request's work done by the device of its token (undefined: the token is no
 * device's, 401); the device is kept on the request for its log line.
 */
export function authenticated<T extends { device: AuthedDevice }>(req: Request, outcome: T | undefined): T {
  if (!outcome) throw new ApiError(401, 'unauthorized', 'invalid device token');
  (req as any)[DEVICE] = outcome.device;
  return outcome;
}

/** Authenticates the request (its own statement; the contact recorded) and puts the device on it. */
async function authenticate(db: Db, req: Request): Promise<AuthedDevice> {
  const device = await authenticateDevice(db, deviceToken(req));
  return authenticated(req, device && { device }).device;
}

/**
 * `check()` (the body's validation) for a route that authenticates in its own statement: a request
 * it refuses is authenticated first, so that a wrong token is a 401 whatever the body, as on every
 * other device route.
 */
export async function checkedForDevice<T>(db: Db, req: Request, check: () => T): Promise<T> {
  try {
    return check();
  } catch (err) {
    await authenticate(db, req);
    throw err;
  }
}

export function requireDevice(db: Db): RequestHandler {
  return async (req, _res, next) => {
    try {
      await authenticate(db, req);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** The authenticated device, if this request has one (for logging). */
export function authedDevice(req: Request): AuthedDevice | undefined {
  return (req as any)[DEVICE] as AuthedDevice | undefined;
}
