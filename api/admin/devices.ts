/**
 * Admin device API (SPEC "HTTP API"):
 *  - `POST /api/v1/devices` registers a batch of devices (services/devices.ts) and returns each
 *    device's token once (only its SHA-256 is stored);
 *  - `GET /api/v1/devices?platform=&tag=&installed=&below=&silentFor=&retired=&limit=&cursor=` pages in
 *    registration order (key: created_at, id);
 *  - `GET /api/v1/devices/:id` the device, its health (last contact / last sync), its history and its
 *    jobs with their logs (P2);
 *  - `PATCH /api/v1/devices/:id` changes msisdn / bootstrapped / tags / platform (each change in the history);
 *  - `POST /api/v1/devices/:id/token` a new device token (shown once; the old one stops working);
 *  - `DELETE /api/v1/devices/:id` retires the device (running jobs cancelled, token refused, record kept).
 */
import { Router } from 'express';
import { z } from 'zod';
import { PLATFORMS } from '../../domain/install-options';
import { normalizeMsisdn } from '../../domain/msisdn';
import { AgeSchema, MAX_TAGS, PlatformSchema, TagSchema } from '../../domain/rollout-request';
import { isoOrNull } from '../../domain/time';
import {
  type Actor,
  type DeviceRow,
  deviceHistory,
  findDevice,
  listDevices,
  registerDevices,
  retireDevice,
  rotateDeviceToken,
  updateDevice,
} from '../../services/devices';
import { jobsOfDevice } from '../../services/installations/views';
import type { ApiContext } from '../context';
import { badRequest, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, inventorySchema, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { addAuditTargets, principalOf } from './admin-auth';
import { jobStateJson, logEntryJson } from './installations';

/** Most devices one registration request may carry. */
export const MAX_DEVICES_PER_REQUEST = 1000;

const msisdnSchema = z.string().transform((s, ctx) => {
  const n = normalizeMsisdn(s);
  if (!n) {
    ctx.addIssue({ code: 'custom', message: 'not an MSISDN in international format (e.g. +4915123456789)' });
    return z.NEVER;
  }
  return n;
});

const tagsSchema = z
  .array(TagSchema)
  .max(MAX_TAGS, `at most ${MAX_TAGS} tags per device`)
  .describe(`Lower-case words (a-z, 0-9, - and _), at most ${MAX_TAGS}; duplicates count once.`);

/** `PATCH /api/v1/devices/:id`: the fields to change (others keep their values). */
export const deviceChangeSchema = z
  .strictObject({
    msisdn: msisdnSchema
      .nullable()
      .optional()
      .describe('null removes the MSISDN. The next push (also a retry of a running job) uses it.'),
    bootstrapped: z.boolean().optional(),
    tags: tagsSchema.optional().describe('Replaces the tags.'),
    platform: PlatformSchema.optional(),
  })
  .refine((v) => Object.values(v).some((x) => x !== undefined), 'give at least one of msisdn, bootstrapped, tags, platform');

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
  msisdn: msisdnSchema.nullish(),
  bootstrapped: z.boolean().optional(),
  installed: inventorySchema.optional(),
  tags: tagsSchema.optional(),
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
    tags: d.tags ?? [],
    info: d.info ?? null,
    lastSyncAt: isoOrNull(d.last_sync_at),
    lastContactAt: isoOrNull(d.last_contact_at),
    /** Seconds since the device last authenticated; null if it never did. */
    silentForSeconds: d.silent_for_seconds === null ? null : Number(d.silent_for_seconds),
    createdAt: isoOrNull(d.created_at),
    /** When the device was retired (DELETE); null while in service. */
    retiredAt: isoOrNull(d.retired_at),
  };
}

const actorOf = (req: Parameters<typeof principalOf>[0]): Actor => {
  const p = principalOf(req);
  return { keyId: p.keyId, keyName: p.keyName };
};

/** A query value through a zod schema: 400 naming the parameter. */
function queryParsed<S extends z.ZodType>(query: Record<string, unknown>, name: string, schema: S): z.output<S> | undefined {
  const v = queryValue(query, name);
  if (v === undefined) return undefined;
  const r = schema.safeParse(v);
  if (!r.success) throw badRequest(`${name}: ${r.error.issues[0]?.message ?? 'invalid'}`, name);
  return r.data;
}

const versionParam = z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters');
const nameParam = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
const booleanParam = z.enum(['true', 'false'], { error: 'must be true or false' });

function historyJson(h: Awaited<ReturnType<typeof deviceHistory>>[number]) {
  return { at: isoOrNull(h.at), event: h.event, changes: h.changes ?? {}, keyId: h.admin_key_id, keyName: h.admin_key_name };
}

export function devicesRoutes({ db, temporal }: ApiContext): Router {
  const r = Router();

  r.post('/devices', async (req, res) => {
    const body = parse(registerSchema, req.body ?? {});
    const devices = await registerDevices(db, body.devices);
    addAuditTargets(req, ...devices.map((d) => d.id));
    res.status(201).json({ devices });
  });

  r.get('/devices', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const platform = queryParsed(query, 'platform', PlatformSchema);
    const tag = queryParsed(query, 'tag', TagSchema);
    const installed = queryParsed(query, 'installed', nameParam);
    const below = queryParsed(query, 'below', versionParam);
    if (below !== undefined && installed === undefined)
      throw badRequest('below: give installed=<software name> with it', 'below');
    const silentFor = queryParsed(query, 'silentFor', AgeSchema);
    const retired = queryParsed(query, 'retired', booleanParam);
    const limit = pageLimit(query);
    const cursor = decodeCursor(query, 2);
    if (cursor && (typeof cursor[0] !== 'string' || typeof cursor[1] !== 'string')) {
      throw badRequest('cursor: not a cursor returned by this list', 'cursor');
    }
    const { devices, nextKey } = await listDevices(db, {
      platform,
      tags: tag ? [tag] : undefined,
      installed: installed ? { name: installed, below } : undefined,
      silentFor,
      retired: retired === 'true',
      limit,
      after: cursor ? [String(cursor[0]), String(cursor[1])] : undefined,
    });
    res.json({ devices: devices.map(deviceJson), nextCursor: nextKey ? encodeCursor(nextKey) : null });
  });

  r.patch('/devices/:id', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const change = parse(deviceChangeSchema, req.body ?? {});
    await updateDevice(db, id, change, actorOf(req));
    const device = await findDevice(db, id);
    if (!device) throw notFound('device');
    res.json({ ...deviceJson(device), history: (await deviceHistory(db, id)).map(historyJson) });
  });

  r.post('/devices/:id/token', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const token = await rotateDeviceToken(db, id, actorOf(req));
    res.status(201).json({ id, token });
  });

  r.delete('/devices/:id', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const { retiredAt, cancelled } = await retireDevice(db, temporal, id, actorOf(req));
    res.json({ id, retiredAt: isoOrNull(retiredAt), cancelledJobs: cancelled });
  });

  r.get('/devices/:id', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const device = await findDevice(db, id);
    if (!device) throw notFound('device');
    const jobs = await jobsOfDevice(db, id);
    const history = await deviceHistory(db, id);
    res.json({
      ...deviceJson(device),
      history: history.map(historyJson),
      jobs: jobs.map((j) => ({
        id: j.id,
        rolloutId: j.rollout_id,
        rolloutState: j.rollout_state,
        software: { id: j.software_id, name: j.software_name, version: j.software_version },
        ...jobStateJson(j),
        log: j.log.map(logEntryJson),
      })),
    });
  });

  return r;
}
