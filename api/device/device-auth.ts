/**
 * Device authentication: `Authorization: Bearer <device token>` (issued at registration, stored as
 * its SHA-256). A valid token records the contact (`last_contact_at`) and puts the device on the
 * request; anything else is a 401 JSON error.
 *
 * The contact is written at most once per `CONTACT_RESOLUTION_S` (a device makes several requests per
 * install; a write per request was a fifth of all row writes) — except that the first contact after
 * one of the device's jobs started is always written (even before the rollout has written that start):
 * the rollout report's "not heard from" (P1) compares `last_contact_at` with the job's start and stays
 * exact.
 */
import type { Request, RequestHandler } from 'express';
import type { Db } from '../../infra/db';
import { sha256Hex } from '../../services/secrets';
import { bearer } from '../admin/admin-auth';
import { ApiError } from '../http/errors';

export interface AuthedDevice {
  id: string;
  externalId: string;
  platform: string;
}

const DEVICE = Symbol('device');

/** `last_contact_at` is kept to this many seconds: a newer contact within them writes nothing. */
export const CONTACT_RESOLUTION_S = 60;

/**
 * The recorded contact is stale: older than the resolution, or older than the start of one of the
 * device's jobs — also while that start is not written yet: the rollout writes its start marks in
 * batches, after the install has begun, and the device may already be answering its push. Such a job
 * (status set, not final, no `started_at`) makes the first contact after each of its changes count.
 */
const STALE_CONTACT = `(last_contact_at IS NULL OR last_contact_at < now() - make_interval(secs => ${CONTACT_RESOLUTION_S})
  OR EXISTS (SELECT 1 FROM installations i WHERE i.device_id = devices.id AND (i.started_at > devices.last_contact_at
    OR (i.started_at IS NULL AND i.status IS NOT NULL AND NOT i.final AND i.updated_at > devices.last_contact_at))))`;

export function requireDevice(db: Db): RequestHandler {
  return async (req, _res, next) => {
    try {
      const token = bearer(req.header('authorization'));
      if (!token) throw new ApiError(401, 'unauthorized', 'missing device token: send Authorization: Bearer <device token>');
      const d = (await db('devices')
        .where({ token_hash: sha256Hex(token) })
        .first('id', 'external_id', 'platform', db.raw(`${STALE_CONTACT} as stale`))) as
        | { id: string; external_id: string; platform: string; stale: boolean }
        | undefined;
      if (!d) throw new ApiError(401, 'unauthorized', 'invalid device token');
      // conditional again: of concurrent requests only one writes
      if (d.stale) await db('devices').where({ id: d.id }).whereRaw(STALE_CONTACT).update({ last_contact_at: db.fn.now() });
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
