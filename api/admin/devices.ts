/**
 * Admin device API (SPEC "HTTP API"):
 *  - `POST /api/v1/devices` registers a batch of devices (one INSERT) and returns each device's token
 *    once (only its SHA-256 is stored);
 *  - `GET /api/v1/devices?platform=&limit=&cursor=` pages in registration order (key: created_at, id);
 *  - `GET /api/v1/devices/:id` the device, its health (last contact / last sync) and its jobs with
 *    their logs (P2).
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { PLATFORMS } from '../../domain/install-options';
import { normalizeMsisdn } from '../../domain/msisdn';
import { isoOrNull } from '../../domain/time';
import type { Db } from '../../infra/db';
import { jobsOfDevice } from '../../services/installations/views';
import { newSecret, sha256Hex } from '../../services/secrets';
import type { ApiContext } from '../context';
import { badRequest, conflict, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, inventorySchema, pageLimit, parse, pathId, queryValue } from '../http/validation';
import { logEntryJson } from './installations';

/** Most devices one registration request may carry. */
export const MAX_DEVICES_PER_REQUEST = 1000;

/** One device of a registration request (also the OpenAPI `DeviceRegistration` schema's items). */
export const deviceSchema = z.strictObject({
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

interface DeviceRow {
  id: string;
  external_id: string;
  platform: string;
  msisdn: string | null;
  bootstrapped: boolean;
  installed: Record<string, string>;
  info: unknown;
  last_sync_at: Date | null;
  last_contact_at: Date | null;
  created_at: Date;
  created_key: string;
  silent_for_seconds: number | null;
}

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

function deviceColumns(db: Db) {
  return [
    'devices.id',
    'external_id',
    'platform',
    'msisdn',
    'bootstrapped',
    'installed',
    'info',
    'last_sync_at',
    'last_contact_at',
    'devices.created_at',
    // the paging key keeps the microseconds that a JS Date would lose
    db.raw('devices.created_at::text as created_key'),
    db.raw('floor(extract(epoch from now() - last_contact_at))::bigint as silent_for_seconds'),
  ];
}

export function devicesRoutes({ db }: ApiContext): Router {
  const r = Router();

  r.post('/devices', async (req, res) => {
    const body = parse(registerSchema, req.body ?? {});
    const seen = new Map<string, number>();
    body.devices.forEach((d, i) => {
      const first = seen.get(d.externalId);
      if (first !== undefined) {
        throw conflict(
          `externalId "${d.externalId}" appears twice in this request (devices[${first}] and devices[${i}])`,
          `devices.${i}.externalId`,
        );
      }
      seen.set(d.externalId, i);
    });
    const existing = await db('devices')
      .whereIn(
        'external_id',
        body.devices.map((d) => d.externalId),
      )
      .first('external_id');
    if (existing) {
      throw conflict(
        `a device with externalId "${existing.external_id}" is already registered`,
        `devices.${seen.get(existing.external_id)}.externalId`,
      );
    }
    const issued = body.devices.map((d) => ({ id: randomUUID(), externalId: d.externalId, token: newSecret('drd'), d }));
    try {
      await db('devices').insert(
        issued.map(({ id, token, d }) => ({
          id,
          external_id: d.externalId,
          platform: d.platform,
          msisdn: d.msisdn ?? null,
          bootstrapped: d.bootstrapped ?? false,
          installed: JSON.stringify(d.installed ?? {}),
          token_hash: sha256Hex(token),
        })),
      );
    } catch (err: any) {
      // registered concurrently between the check and the insert
      if (err?.code === '23505' && String(err.constraint ?? '').includes('external_id')) {
        const m = /\(external_id\)=\((.*)\)/.exec(String(err.detail ?? ''));
        const i = m?.[1] !== undefined ? seen.get(m[1]) : undefined;
        throw conflict(
          m ? `a device with externalId "${m[1]}" is already registered` : 'a device of this request is already registered',
          i !== undefined ? `devices.${i}.externalId` : 'devices',
        );
      }
      throw err;
    }
    res.status(201).json({ devices: issued.map(({ id, externalId, token }) => ({ id, externalId, token })) });
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
    const q = db('devices')
      .select(deviceColumns(db))
      .orderBy([
        { column: 'devices.created_at', order: 'asc' },
        { column: 'devices.id', order: 'asc' },
      ])
      .limit(limit + 1);
    if (platform) q.where({ platform });
    if (cursor)
      q.whereRaw('(devices.created_at, devices.id) > (?::timestamptz, ?::uuid)', [String(cursor[0]), String(cursor[1])]);
    let rows: DeviceRow[];
    try {
      rows = await q;
    } catch (err: any) {
      // a forged cursor holding a malformed uuid/timestamp
      if (err?.code === '22P02' || err?.code === '22007' || err?.code === '22008') {
        throw badRequest('cursor: not a cursor returned by this list', 'cursor');
      }
      throw err;
    }
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      devices: page.map(deviceJson),
      nextCursor: rows.length > limit && last ? encodeCursor([last.created_key, last.id]) : null,
    });
  });

  r.get('/devices/:id', async (req, res) => {
    const id = pathId(req.params.id, 'device');
    const device = (await db('devices').where('devices.id', id).select(deviceColumns(db)).first()) as DeviceRow | undefined;
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
