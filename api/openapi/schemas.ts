/**
 * `components.schemas` of the OpenAPI document.
 *
 * Request bodies are GENERATED from the zod schemas that validate them (`z.toJSONSchema`): the rollout
 * schemas of domain/rollout-request.ts (its `apiSchemas` registry), device registration
 * (api/admin/devices.ts) and the device sync / report bodies (api/device/sync-and-reports.ts). Responses have no
 * validating schema: they are described here in zod (the shapes the handlers build), except the
 * multipart software upload, whose form fields are parsed by hand (api/admin/software.ts) and
 * described as JSON Schema.
 */
import { z } from 'zod';
import * as rolloutRequest from '../../domain/rollout-request';
import { ErrorSchema, PlatformSchema } from '../../domain/rollout-request';
import { adminKeyRequestSchema } from '../admin/admin-keys';
import { deviceChangeSchema, MAX_DEVICES_PER_REQUEST, registerSchema } from '../admin/devices';
import { MAX_FILES_PER_SOFTWARE } from '../admin/software';
import { reportSchema, syncSchema } from '../device/sync-and-reports';
import type { Json } from './common';

type Meta = { id: string; description?: string };

const iso = z.iso.datetime();
const nextCursor = z.string().nullable().describe('Give it as `cursor` for the next page; null on the last page.');
const logEntry = z.object({
  at: iso,
  event: z.string(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  message: z.string().nullable(),
});

const healthProbe = z.object({ ok: z.boolean(), latencyMs: z.number().int(), error: z.string().optional() });
const Health = z.object({ status: z.enum(['ok', 'degraded']), temporal: healthProbe, postgres: healthProbe });

const DeliveryReportRecorded = z.object({
  ok: z.literal(true),
  state: z.enum(['delivered', 'failed', 'buffered', 'smsc-accepted', 'smsc-rejected', 'unknown']),
});

const DevicesRegistered = z.object({
  devices: z.array(
    z.object({
      id: z.uuid(),
      externalId: z.string(),
      token: z.string().describe('The device token (`drd_…`): shown only here, only its SHA-256 is stored.'),
    }),
  ),
});

const Device = z.object({
  id: z.uuid(),
  externalId: z.string(),
  platform: PlatformSchema,
  msisdn: z.string().nullable(),
  bootstrapped: z.boolean(),
  installed: z.record(z.string(), z.string()).describe('Software name → version, as last synced.'),
  info: z.unknown().describe('The `info` of the last sync (null if none).'),
  lastSyncAt: iso.nullable(),
  lastContactAt: iso.nullable(),
  silentForSeconds: z.number().int().nullable().describe('Seconds since the device last authenticated; null if it never did.'),
  tags: z.array(z.string()),
  createdAt: iso,
  retiredAt: iso.nullable().describe('When the device was retired (DELETE); null while in service.'),
});

const DevicePage = z.object({ devices: z.array(Device), nextCursor });

const history = z
  .array(
    z.object({
      at: iso,
      event: z.enum(['updated', 'token-rotated', 'retired']),
      changes: z
        .record(z.string(), z.object({ from: z.unknown(), to: z.unknown() }))
        .describe('Field → { from, to } (updated); empty otherwise.'),
      keyId: z.uuid().nullable().describe('The admin key of the change; null for ADMIN_API_KEY.'),
      keyName: z.string().nullable(),
    }),
  )
  .describe('Every change made through the API, oldest first.');

const DeviceWithHistory = Device.extend({ history });

const DeviceRetired = z.object({
  id: z.uuid(),
  retiredAt: iso,
  cancelledJobs: z.number().int().describe('Running jobs whose install workflow was asked to cancel by this request.'),
});

const DeviceToken = z.object({
  id: z.uuid(),
  token: z.string().describe('The new device token (`drd_…`): shown only here; the old one no longer works.'),
});

const AdminKey = z.object({
  id: z.uuid(),
  name: z.string(),
  role: z.enum(['viewer', 'operator', 'admin']),
  createdAt: iso,
  expiresAt: iso.nullable(),
  revokedAt: iso.nullable(),
});

const AdminKeyCreated = AdminKey.extend({
  key: z.string().describe('The admin key (`dra_…`): shown only here, only its SHA-256 is stored.'),
});

const AdminKeyList = z.object({ keys: z.array(AdminKey) });

const AuditPage = z.object({
  entries: z.array(
    z.object({
      id: z.string(),
      at: iso,
      keyId: z.uuid().nullable().describe('null: ADMIN_API_KEY, or no valid key'),
      keyName: z.string().nullable(),
      role: z.string().nullable(),
      method: z.string(),
      route: z.string().describe('The route pattern, e.g. /api/v1/devices/:id'),
      path: z.string(),
      targetIds: z.array(z.string()).describe('Rollout, device, software and key ids the request was about'),
      status: z.number().int().describe('The answer: HTTP status code'),
      body: z.unknown().describe('Rollout requests: the request body without secrets; null otherwise'),
    }),
  ),
  nextCursor,
});

const DeviceDetail = Device.extend({
  history,
  jobs: z
    .array(
      z.object({
        id: z.uuid(),
        rolloutId: z.uuid(),
        rolloutState: rolloutRequest.RolloutStateSchema,
        software: z.object({ id: z.uuid(), name: z.string(), version: z.string() }),
        status: z.string().nullable().describe('SPEC status string; null while the job waits for its planned start.'),
        final: z.boolean(),
        method: z.string().nullable(),
        detail: z.string().nullable(),
        workflowId: z.string().nullable(),
        plannedAt: iso.nullable(),
        startedAt: iso.nullable(),
        endedAt: iso.nullable(),
        updatedAt: iso,
        log: z.array(logEntry),
      }),
    )
    .describe('Its jobs, newest rollout first, each with its log (P2).'),
});

const softwareFile = z.object({
  id: z.uuid(),
  fileName: z.string(),
  format: z.string().describe('File extension, lower case: cab, exe, sis, sisx, ipa, apk, …'),
  size: z.number().int(),
  sha256: z.string(),
});

const Software = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.string(),
  kind: z.enum(['dme-client', 'other']),
  platforms: z.array(PlatformSchema),
  inHouseIos: z.boolean(),
  bundleId: z.string().nullable(),
  sha256: z.string().nullable().describe('Of the first file.'),
  size: z.number().int().nullable().describe('Of the first file.'),
  files: z.array(softwareFile).describe('Upload order; the first is the main file.'),
  createdAt: iso,
});

const SoftwarePage = z.object({ software: z.array(Software), nextCursor });

/** The multipart form of `POST /api/v1/software` (parsed by hand, not by a zod schema). */
const SoftwareUpload: Json = {
  type: 'object',
  required: ['file', 'name', 'version', 'kind', 'platforms'],
  properties: {
    file: {
      type: 'array',
      items: { type: 'string', format: 'binary' },
      minItems: 1,
      maxItems: MAX_FILES_PER_SOFTWARE,
      description:
        'One `file` part per variant (e.g. a .cab and an .exe), at most one per file extension, none empty, each at most SOFTWARE_MAX_BYTES.',
    },
    name: { type: 'string', maxLength: 200 },
    version: { type: 'string', maxLength: 100 },
    kind: {
      type: 'string',
      enum: ['dme-client', 'other'],
      description: 'dme-client: its version is reported back by the device.',
    },
    platforms: {
      type: 'string',
      description: 'Target platforms: comma-separated (`android,ios`), a JSON array, or the field repeated.',
    },
    inHouseIos: {
      type: 'string',
      enum: ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'],
      description: 'In-house iOS app (R6): needs an .ipa, platform ios and a bundleId. Default false.',
    },
    bundleId: { type: 'string', maxLength: 155, description: 'Reverse-DNS bundle identifier, e.g. com.example.app' },
  },
};

const Message = z.object({
  id: z.string(),
  channel: z.enum(['sms', 'wap', 'binary', 'mail']),
  transport: z.string().describe('recording, kannel, email-sms, smtp …'),
  to: z.string(),
  contentType: z.string().nullable(),
  body: z.string().nullable().describe('The text (SMS, WAP push, mail).'),
  payload: z.string().nullable().describe('Binary pushes (DM trigger, CP bootstrap), base64.'),
  state: z
    .enum(['pending', 'unconfirmed', 'sent', 'failed', 'delivered'])
    .describe(
      "unconfirmed: the gateway got the request but its answer was lost; a retry waits for the message's delivery report (KANNEL_DLR_WAIT_MS) before sending again.",
    ),
  installationId: z.uuid().nullable(),
  idempotencyKey: z.string(),
  createdAt: iso,
  sentAt: iso.nullable(),
});

const MessagePage = z.object({ messages: z.array(Message), nextCursor });

const RoundTrip = z.object({
  workflowId: z.string(),
  runId: z.string(),
  id: z.string().describe('The row the activity wrote.'),
  note: z.string(),
  writtenAt: iso,
});

const DeviceSyncResult = z.object({
  pending: z
    .array(
      z.object({
        jobId: z.uuid(),
        software: z.string(),
        version: z.string(),
        url: z.url().describe('The download link (`/d/{ticket}`).'),
        size: z.number().int(),
        sha256: z.string(),
        fileName: z.string(),
        format: z.string(),
        expiresAt: iso,
      }),
    )
    .describe('Pending Mark-for-installation jobs of the device with their links (D1).'),
  inventoryStored: z.boolean().describe('False when a newer sync had already been stored (this one came late).'),
  signalled: z
    .number()
    .int()
    .describe('How many open jobs of the device this inventory is passed to (queued for delivery to their install workflows).'),
});

const DeviceReportAccepted = z.object({
  accepted: z.literal(true),
  duplicate: z.boolean().describe('A repeat of a report already accepted: nothing changed.'),
});

/** Named component schemas in zod, beyond those of domain/rollout-request.ts. */
const API_SCHEMAS: ReadonlyArray<[z.ZodType, Meta]> = [
  [Health, { id: 'Health' }],
  [DeliveryReportRecorded, { id: 'DeliveryReportRecorded' }],
  [registerSchema, { id: 'DeviceRegistration', description: `At most ${MAX_DEVICES_PER_REQUEST} devices per request.` }],
  [DevicesRegistered, { id: 'DevicesRegistered' }],
  [Device, { id: 'Device' }],
  [DevicePage, { id: 'DevicePage' }],
  [DeviceDetail, { id: 'DeviceDetail' }],
  [deviceChangeSchema, { id: 'DeviceChange', description: 'The fields to change; at least one.' }],
  [DeviceWithHistory, { id: 'DeviceWithHistory' }],
  [DeviceRetired, { id: 'DeviceRetired' }],
  [DeviceToken, { id: 'DeviceToken' }],
  [adminKeyRequestSchema, { id: 'AdminKeyRequest' }],
  [AdminKey, { id: 'AdminKey' }],
  [AdminKeyCreated, { id: 'AdminKeyCreated' }],
  [AdminKeyList, { id: 'AdminKeyList' }],
  [AuditPage, { id: 'AuditPage' }],
  [Software, { id: 'Software' }],
  [SoftwarePage, { id: 'SoftwarePage' }],
  [MessagePage, { id: 'MessagePage' }],
  [RoundTrip, { id: 'RoundTrip' }],
  [syncSchema, { id: 'DeviceSync', description: 'Inventory sync (D4): installed software and versions.' }],
  [DeviceSyncResult, { id: 'DeviceSyncResult' }],
  [reportSchema, { id: 'DeviceReport', description: 'Download / install phase of a job (D2).' }],
  [DeviceReportAccepted, { id: 'DeviceReportAccepted' }],
];

/** Removes the JSON-Schema-only keys OpenAPI 3.0 does not know (`$id`, `$schema`). */
function clean(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Json)
        .filter(([k]) => k !== '$id' && k !== '$schema')
        .map(([k, x]) => [k, clean(x)]),
    );
  }
  return v;
}

/** Every named schema: one registry, so that schemas refer to each other (`Platform`, `Error` …). */
export function componentSchemas(): Json {
  const registry = z.registry<Meta>();
  for (const s of Object.values(rolloutRequest)) {
    const meta = s instanceof z.ZodType ? rolloutRequest.apiSchemas.get(s) : undefined;
    if (meta) registry.add(s as z.ZodType, meta);
  }
  for (const [s, meta] of API_SCHEMAS) registry.add(s, meta);
  if (!registry.has(ErrorSchema)) throw new Error('openapi: the Error schema is not registered');
  const generated = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Json };
  return { ...(clean(generated.schemas) as Json), SoftwareUpload };
}
