/**
 * The rollout request (SPEC "HTTP API": `POST /api/v1/rollouts`, `/rollouts/preview`,
 * `PATCH /rollouts/:id/schedule`) as zod schemas — the ONE definition used both to validate requests
 * (api/admin/rollouts.ts) and to generate the OpenAPI document (api/openapi.ts).
 *
 * The schemas check shapes and ranges with messages naming the field; the schedule's semantic rules
 * (real dates, IANA zones, window order) are `validateSchedule` of domain/schedule.ts, applied after
 * the defaults are filled in; R1/R7 need the software and devices and are checked by
 * services/rollouts/prepare.ts.
 */
import { z } from 'zod';
import { DURATION_RE, parseDurationMs } from './duration';
import {
  GroupStatusSchema,
  GroupsRequestSchema,
  GroupWaitSchema,
  PreviewGroupSchema,
  SafetyRequestSchema,
} from './groups-request';
import { PLATFORMS, type Platform } from './install-options';
import { ROLLOUT_STATES } from './rollout-state';
import { PER_DAY_MAX, PER_DAY_MIN, WEEKDAYS } from './schedule';

/** The API's named schemas (components of the OpenAPI document); a private registry, not zod's global one. */
export const apiSchemas = z.registry<{ id: string; description?: string }>();

const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Bounds of the per-rollout overrides of the install workflow's waits. */
export const TIMEOUT_MIN_MS = 1_000;
export const TIMEOUT_MAX_MS = 365 * 86_400_000;
export const MAX_PUSH_ATTEMPTS = 10;
export const DEFAULT_MAX_PUSH_ATTEMPTS = 3;
/** Most device ids a request may list (beyond that, select by filter). */
export const MAX_DEVICE_IDS = 20_000;
export const MAX_NOTIFY = 50;

export const PlatformSchema = z
  .enum(PLATFORMS as unknown as [Platform, ...Platform[]], { error: `must be one of ${PLATFORMS.join(', ')}` })
  .register(apiSchemas, { id: 'Platform' });

export const WeekdaySchema = z.enum(WEEKDAYS as unknown as ['mon', ...('tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[]], {
  error: `must be one of ${WEEKDAYS.join(', ')}`,
});

const timeOfDay = (what: string) =>
  z.string({ error: `must be a time of day HH:MM` }).regex(TIME_RE, `must be a time of day HH:MM (${what})`);

const PER_DAY_MESSAGE = `must be a whole number from ${PER_DAY_MIN} to ${PER_DAY_MAX}, or "unlimited"`;

export const ScheduleRequestSchema = z
  .strictObject({
    perDay: z
      .union(
        [
          z.number().int(PER_DAY_MESSAGE).min(PER_DAY_MIN, PER_DAY_MESSAGE).max(PER_DAY_MAX, PER_DAY_MESSAGE),
          z.literal('unlimited'),
        ],
        {
          error: PER_DAY_MESSAGE,
        },
      )
      .optional()
      .describe(`Installs started per calendar day (S1); default 100.`),
    startDate: z
      .string({ error: 'must be a date YYYY-MM-DD' })
      .regex(DATE_RE, 'must be a date YYYY-MM-DD')
      .optional()
      .describe('First day of installs (S2), in the schedule time zone; default today. A past date means today.'),
    weekdays: z
      .array(WeekdaySchema, { error: 'must be a list of weekdays such as ["mon","tue"]' })
      .min(1, 'select at least one weekday')
      .max(7)
      .optional()
      .describe('Days of the week on which installs may start (S3); default mon–fri.'),
    window: z
      .strictObject({
        start: timeOfDay('00:00–23:59').optional(),
        end: timeOfDay('00:01–24:00').optional(),
      })
      .optional()
      .describe(
        'Time of day within which installs start (S4), [start, end); default 09:00–17:00. Overnight windows are refused.',
      ),
    timeZone: z
      .string({ error: 'must be an IANA time zone such as "Europe/Berlin"' })
      .min(1)
      .optional()
      .describe('IANA time zone of the schedule (S8); default UTC.'),
  })
  .register(apiSchemas, {
    id: 'Schedule',
    description: 'Daily quota spread evenly over the window of each selected weekday (S1–S8).',
  });

const DURATION_MESSAGE = 'must be a duration such as "90s", "15m", "2h", "7d" or milliseconds (1 s … 365 d)';
const duration = z
  .union(
    [
      z.number().int(DURATION_MESSAGE).min(TIMEOUT_MIN_MS, DURATION_MESSAGE).max(TIMEOUT_MAX_MS, DURATION_MESSAGE),
      z
        .string()
        .regex(DURATION_RE, DURATION_MESSAGE)
        .refine((v) => {
          if (!DURATION_RE.test(v)) return true; // reported by the regex
          const ms = parseDurationMs(v);
          return ms >= TIMEOUT_MIN_MS && ms <= TIMEOUT_MAX_MS;
        }, DURATION_MESSAGE),
    ],
    { error: DURATION_MESSAGE },
  )
  .optional();

export const TimeoutsRequestSchema = z
  .strictObject({
    bootstrap: duration.describe('How long an install waits for the OMA DM bootstrap (default BOOTSTRAP_TIMEOUT).'),
    dmInstall: duration.describe('How long it waits for the DM install result (default DM_INSTALL_TIMEOUT).'),
    ticketLifetime: duration.describe('Validity of a download link (default PUSH_TICKET_LIFETIME).'),
    verification: duration.describe('Time to wait for verification before Unknown status (default VERIFICATION_TIMEOUT).'),
  })
  .register(apiSchemas, { id: 'InstallTimeouts', description: "Per-rollout overrides of the server's install timeouts." });

/** A device tag: a lower-case word (letters, digits, `-`, `_`). */
export const TAG_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const MAX_TAGS = 32;

export const TagSchema = z
  .string({ error: 'must be a tag' })
  .regex(TAG_RE, 'must be a lower-case word (a-z, 0-9, - and _; at most 64)');

/** A duration such as "30d" (`contactedWithin`, `silentFor`): 1 s … 10 years. */
export const AgeSchema = z.string({ error: 'must be a duration such as "30d", "12h"' }).refine((v) => {
  if (!DURATION_RE.test(v)) return false;
  const ms = parseDurationMs(v);
  return ms >= 1_000 && ms <= 3650 * 86_400_000;
}, 'must be a duration from 1s to 3650d such as "30d", "12h"');

/**
 * The devices a rollout (or `GET /devices`) selects: every field optional, at least one given, all of
 * them combined with AND; retired devices never match.
 */
export const DeviceFilterSchema = z
  .strictObject({
    platform: PlatformSchema.optional(),
    tags: z
      .array(TagSchema)
      .min(1, 'give at least one tag')
      .max(MAX_TAGS, `at most ${MAX_TAGS} tags`)
      .optional()
      .describe('Devices carrying all of these tags.'),
    installed: z
      .strictObject({
        name: z.string({ error: 'must be a software name' }).trim().min(1, 'must not be empty').max(200),
        below: z
          .string({ error: 'must be a version' })
          .trim()
          .min(1, 'must not be empty')
          .max(100)
          .optional()
          .describe('Devices that report `name` in a version below this one (the version order of R8).'),
        missing: z
          .literal(true, { error: 'must be true' })
          .optional()
          .describe('Devices that do not report `name` at all (with `below`: below OR missing).'),
      })
      .optional()
      .describe('By reported software: `{ name }` alone selects the devices reporting it in any version.'),
    contactedWithin: AgeSchema.optional().describe('Devices whose last contact is at most this long ago, e.g. "30d".'),
  })
  .refine((f) => Object.values(f).some((v) => v !== undefined), 'give at least one of platform, tags, installed, contactedWithin')
  .register(apiSchemas, { id: 'DeviceFilter' });

export type DeviceFilter = z.output<typeof DeviceFilterSchema>;

export const DeviceSelectionSchema = z
  .strictObject({
    ids: z
      .array(z.uuid({ error: 'must be device ids (uuids)' }), { error: 'must be a list of device ids' })
      .min(1, 'give at least one device id')
      .max(MAX_DEVICE_IDS, `at most ${MAX_DEVICE_IDS} device ids; select larger fleets with a filter`)
      .optional()
      .describe('Explicit devices, installed in this order.'),
    filter: DeviceFilterSchema.optional().describe(
      'Every registered, not retired device matching the filter, in registration order (the rollout stores it).',
    ),
  })
  .superRefine((v, ctx) => {
    const n = (v.ids ? 1 : 0) + (v.filter ? 1 : 0);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of devices.ids or devices.filter' });
  })
  .register(apiSchemas, {
    id: 'DeviceSelection',
    description: 'Either { ids: [...] } or { filter: { platform?, tags?, installed?, contactedWithin? } }.',
  });

export const InstallOptionsRequestSchema = z
  .strictObject({
    useDm: z.boolean({ error: 'must be true or false' }).default(false).describe('Install through OMA DM where it applies (R1).'),
    push: z
      .enum(['sms', 'wap', 'mark'], { error: 'must be one of sms, wap, mark' })
      .default('sms')
      .describe('Push method (R4); SMS push is the recommended default. In-house iOS apps always go by SMS (R6).'),
    maxPushAttempts: z
      .number({ error: `must be a whole number from 1 to ${MAX_PUSH_ATTEMPTS}` })
      .int()
      .min(1)
      .max(MAX_PUSH_ATTEMPTS)
      .default(DEFAULT_MAX_PUSH_ATTEMPTS)
      .describe(
        'Pushes per device (the first included) before the job gives up; each lasts one ticket lifetime. Unlike a retry (POST /rollouts/:id/retry: a new rollout of the failed devices, later, by an operator), these pushes belong to the same job and follow each other by themselves.',
      ),
    skipUnreachable: z
      .boolean({ error: 'must be true or false' })
      .optional()
      .describe(
        'Leave out the selected devices the rollout cannot reach (no MSISDN for an SMS / WAP push or an in-house iOS app; no file for the platform, R7) instead of refusing the rollout with a 400 naming them; the answer counts them (`skipped`).',
      ),
  })
  .register(apiSchemas, { id: 'InstallOptions' });

export const RolloutRequestSchema = z
  .strictObject({
    softwareId: z.uuid({ error: 'must be the id of registered software (a uuid)' }),
    devices: DeviceSelectionSchema,
    options: InstallOptionsRequestSchema.default({ useDm: false, push: 'sms', maxPushAttempts: DEFAULT_MAX_PUSH_ATTEMPTS }),
    schedule: ScheduleRequestSchema.default({}),
    timeouts: TimeoutsRequestSchema.optional(),
    notify: z
      .array(z.email({ error: 'must be email addresses' }))
      .max(MAX_NOTIFY, `at most ${MAX_NOTIFY} addresses`)
      .default([])
      .describe('Who gets the summary email and the failure alert (P3).'),
    failureThreshold: z
      .number({ error: 'must be a whole number ≥ 1' })
      .int()
      .min(1)
      .optional()
      .describe('Send an early alert once this many jobs have failed (P3); default 10% of the devices (at least 1).'),
    groups: GroupsRequestSchema.optional(),
    safety: SafetyRequestSchema.optional(),
  })
  .register(apiSchemas, {
    id: 'RolloutRequest',
    description: 'Start (or preview) a rollout of one software package to a set of devices.',
  });

export type RolloutRequest = z.output<typeof RolloutRequestSchema>;
export type ScheduleRequest = z.output<typeof ScheduleRequestSchema>;

/** `PATCH /rollouts/:id/schedule`: the fields to change (merged into the current schedule). */
export const ScheduleChangeSchema = z.strictObject(ScheduleRequestSchema.shape).register(apiSchemas, {
  id: 'ScheduleChange',
  description: 'Fields of the schedule to change; the others keep their current values. The time zone cannot change.',
});

export const CancelRequestSchema = z
  .strictObject({ reason: z.string().max(500).optional() })
  .register(apiSchemas, { id: 'CancelRequest' });

/** Kept here for the request's users (the tests parse its durations). */
export { parseDurationMs };

/** Default early-alert threshold: 10% of the jobs, at least 1. */
export const defaultFailureThreshold = (total: number) => Math.max(1, Math.ceil(total / 10));

// ---------------------------------------------------------------------------------------------
// Responses (documented in the OpenAPI document)
// ---------------------------------------------------------------------------------------------

const counts = z.record(z.string(), z.number().int()).describe('Jobs per status (SPEC status strings).');
export const RolloutStateSchema = z.enum(ROLLOUT_STATES);

/** Devices left out by `options.skipUnreachable` (issue 14). */
const SkippedSchema = z
  .object({
    total: z.number().int(),
    noFile: z.number().int().describe('No file for their platform (R7: .cab-only for Windows Mobile Smartphones).'),
    noMsisdn: z.number().int().describe('No MSISDN for an SMS / WAP push (or an in-house iOS app).'),
    first: z.array(z.object({ id: z.uuid(), externalId: z.string() })).describe('The first of them (at most 10).'),
  })
  .describe('Selected devices left out because the rollout cannot reach them (options.skipUnreachable).');

export const RolloutCreatedSchema = z
  .object({
    id: z.uuid(),
    workflowId: z.string(),
    total: z.number().int().describe('Installation jobs created (one per device).'),
    skipped: SkippedSchema.optional(),
  })
  .register(apiSchemas, { id: 'RolloutCreated' });

export const PreviewResponseSchema = z
  .object({
    total: z.number().int(),
    software: z.object({ id: z.uuid(), name: z.string(), version: z.string() }),
    schedule: z.unknown().describe('The schedule with every default filled in.'),
    options: z
      .object({ useDm: z.boolean(), push: z.enum(['sms', 'wap', 'mark']), maxPushAttempts: z.number().int() })
      .describe('The effective options (in-house iOS apps always go by SMS).'),
    slots: z.array(
      z.object({
        deviceId: z.uuid(),
        at: z.iso.datetime(),
        date: z.string(),
        group: z.string().describe("The device's group (`all` for a rollout without groups)."),
        method: z
          .enum(['dm', 'sms', 'wap', 'mark'])
          .describe("The device's first method: DM where Use DM applies to it (R1), else the push method."),
      }),
    ),
    skipped: SkippedSchema.optional(),
    slotsTruncated: z.boolean().describe('true when only the first `limit` slots are listed (days are always complete).'),
    groups: z.array(PreviewGroupSchema).describe('The groups in order, with the planned first start of each.'),
    assumption: z
      .string()
      .optional()
      .describe(
        'With groups: the plan assumes each group reaches its success threshold on time (its starts move later otherwise).',
      ),
    days: z.array(z.object({ date: z.string(), count: z.number().int() })),
    firstStartAt: z.iso.datetime().nullable(),
    lastStartAt: z.iso.datetime().nullable(),
  })
  .register(apiSchemas, { id: 'RolloutPreview' });

export const RolloutStatusSchema = z
  .object({
    id: z.uuid(),
    state: RolloutStateSchema,
    counts,
    total: z.number().int(),
    started: z.number().int(),
    remaining: z.number().int(),
    nextStartAt: z.iso.datetime().nullable(),
    source: z
      .enum(['workflow', 'database'])
      .describe('Where state, started, remaining and nextStartAt come from: the running workflow, or Postgres.'),
    finished: z.number().int().describe('Jobs final.'),
    outstanding: z.number().int().describe('Started and not final yet.'),
    finalCounts: counts.optional().describe('Final results the workflow has heard of, per status.'),
    startsByDay: z.record(z.string(), z.number().int()).optional().describe('Starts per calendar day of the schedule time zone.'),
    cancelling: z.boolean().optional().describe('Cancel accepted, cancelled installs still reporting.'),
    pausedReason: z
      .enum(['admin', 'error-threshold'])
      .nullable()
      .describe(
        'Why the rollout is paused: by an admin, or by itself when a group reached the error threshold (G2); null when not paused.',
      ),
    groups: z.array(GroupStatusSchema).describe('The groups in order (one group `all` for a rollout without groups).'),
    waitingFor: GroupWaitSchema.nullable().describe(
      'Set while the next group waits for its gate: nothing starts (nextStartAt null) and no quota is used.',
    ),
    softwareId: z.uuid(),
    schedule: z.unknown(),
    options: z.unknown(),
    notify: z.array(z.string()),
    workflowId: z.string().nullable(),
    createdAt: z.iso.datetime(),
    completedAt: z.iso.datetime().nullable(),
  })
  .register(apiSchemas, { id: 'RolloutStatus' });

export const InstallationRowSchema = z
  .object({
    id: z.uuid(),
    seq: z.number().int(),
    deviceId: z.uuid(),
    externalId: z.string(),
    platform: z.string(),
    status: z.string().nullable(),
    final: z.boolean(),
    method: z.string().nullable(),
    detail: z.string().nullable(),
    workflowId: z.string().nullable(),
    plannedAt: z.iso.datetime().nullable(),
    startedAt: z.iso.datetime().nullable(),
    endedAt: z.iso.datetime().nullable(),
    updatedAt: z.iso.datetime(),
  })
  .register(apiSchemas, { id: 'Installation' });

export const InstallationPageSchema = z
  .object({
    rolloutId: z.uuid(),
    table: z.enum(['installing', 'installed']),
    installations: z.array(InstallationRowSchema),
    nextCursor: z.string().nullable(),
  })
  .register(apiSchemas, { id: 'InstallationPage' });

export const InstallationLogSchema = z
  .object({
    installation: InstallationRowSchema.extend({ rolloutId: z.uuid() }),
    log: z.array(
      z.object({
        at: z.iso.datetime(),
        event: z.string(),
        from: z.string().nullable(),
        to: z.string().nullable(),
        message: z.string().nullable(),
      }),
    ),
  })
  .register(apiSchemas, { id: 'InstallationLog' });

export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }) })
  .register(apiSchemas, { id: 'Error' });

export const RolloutControlSchema = z
  .object({
    id: z.uuid(),
    state: RolloutStateSchema,
    counts,
    total: z.number().int(),
    started: z.number().int(),
    finished: z.number().int(),
    outstanding: z.number().int(),
    remaining: z.number().int(),
    nextStartAt: z.iso.datetime().nullable(),
    startsByDay: z.record(z.string(), z.number().int()),
    cancelling: z.boolean(),
    schedule: z.unknown(),
    pausedReason: z.enum(['admin', 'error-threshold']).nullable(),
    groups: z.array(GroupStatusSchema).optional().describe('The groups (a rollout with groups).'),
    waitingFor: GroupWaitSchema.nullable(),
  })
  .register(apiSchemas, { id: 'RolloutProgress', description: "The rollout workflow's progress after the change." });
