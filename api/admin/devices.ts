/**
 * Admin device API (SPEC "HTTP API"):
 *  - `POST /api/v1/devices` registers a batch of devices (services/devices.ts) and returns each
 *    device's token once (only its SHA-256 is stored);
 *  - `GET /api/v1/devices?platform=&limit=&cursor=` pages in registration order (key: created_at, id);
 *  - `GET /api/v1/devices/:id` the device, its health (last contact / last sync) and its jobs with
 *    their logs (P2).
 */
import { Router } from 'express';
import { z } from 'zod';
import { PLATFORMS } from '../../domain/install-options';
import { normalizeMsisdn } from '../../domain/msisdn';
import { isoOrNull } from '../../domain/time';
import { type DeviceRow, findDevice, listDevices, registerDevices } from '../../services/devices';
import { jobsOfDevice } from '../../services/installations/views';
import type { ApiContext } from '../context';
import { badRequest, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, inventorySchema, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { logEntryJson } from './installations';

/** Most devices one registration request may carry. */
export const MAX_DEVICES_PER_REQUEST = 1000;

/** One device of a registration request (also the OpenAPI `DeviceRegistration` schema's items). */
const deviceSchema = z.strictObject({
  externalId: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(128, 'at most 128 characters')
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces (e.g. an IMEI)'),
  platform: z.enum(PLATFORMS as [string, ...string[]], {
    error: `must be one of ${PLATFORMS.join(', ')}`,
  }),
  msisdn: z
    .string()
    .transform((s, ctx) => {
      const n = normalizeMsisdn(s);
      if (!n) {
        ctx.addIssue({ code: 'custom', message: 'not an MSISDN in international format (e.g. +4915123456789)' });
        return z.NEVER;
      }
      return n;
    })
    .nullish(),
  bootstrapped: z.boolean().optional(),
  installed: inventorySchema.optional(),
});

/** `POST /api/v1/devices` (validates the request; the OpenAPI document is generated from it). */
export const registerSchema = z.strictObject({
  devices: z
    .array(deviceSchema)
    .min(1, 'give at least one device')
    .max(MAX_DEVICES_PER_REQUEST, `at most ${MAX_DEVICES_PER_REQUEST} devices per request`),
});

function deviceJson(d: DeviceRow) {
  return {
    id: d.id,
    externalId: d.external_id,
    platform: d.platform,
    msisdn: d.msisdn,
    bootstrapped: d.bootstrapped,
    installed: d.installed ?? {},
    info: d.info ?? null,
    lastSyncAt: isoOrNull(d.last_sync_at),
    lastContactAt: isoOrNull(d.last_contact_at),
    /** Seconds since the device last authenticated; null if it never did. */
    silentForSeconds: d.silent_for_seconds === null ? null : Number(d.silent_for_seconds),
    createdAt: isoOrNull(d.created_at),
  };
}

export function devicesRoutes({ db }: ApiContext): Router {
  const r = Router();

  r.post('/devices', async (req, res) => {
    const body = parse(registerSchema, req.body ?? {});
    const devices = await registerDevices(db, body.devices);
    res.status(201).json({ devices });
  });

  r.get('/devices', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const platform = queryValue(query, 'platform');
    if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform)) {
      throw badRequest(`platform: must be one of ${PLATFORMS.join(', ')}`, 'platform');
    }
    const limit = pageLimit(query);
    const cursor = decodeCursor(query, 2);
    if (cursor && (typeof cursor[0] !== 'string' || typeof cursor[1] !== 'string')) {
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    }
    const { devices, nextKey } = await listDevices(db, {
      platform,
      limit,
      after: cursor ? [String(cursor[0]), String(cursor[1])] : undefined,
    });
    res.json({ devices: devices.map(deviceJson), nextCursor: nextKey ? encodeCursor(nextKey) : null });
  });

  r.get('/devices/:id', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const device = await findDevice(db, id);
    if (!device) throw notFound('device');
    const jobs = await jobsOfDevice(db, id);
    res.json({
      ...deviceJson(device),
      jobs: jobs.map((j) => ({
        id: j.id,
        rolloutId: j.rollout_id,
        rolloutState: j.rollout_state,
        software: { id: j.software_id, name: j.software_name, version: j.software_version },
        status: j.status,
        final: j.final,
        method: j.method,
        detail: j.detail,
        workflowId: j.workflow_id,
        plannedAt: isoOrNull(j.planned_at),
        startedAt: isoOrNull(j.started_at),
        endedAt: isoOrNull(j.ended_at),
        updatedAt: isoOrNull(j.updated_at),
        log: j.log.map(logEntryJson),
      })),
    });
  });

  return r;
}
