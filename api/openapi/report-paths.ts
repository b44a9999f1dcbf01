/**
 * Operations of the rollout list, report, CSV and retry (api/admin/reports.ts) and of one job's cancel
 * (api/admin/installations.ts) — issue 14. Response shapes are described here as JSON Schema.
 */
import { REPORT_LISTS } from '../../domain/report-rows';
import { ROLLOUT_STATES } from '../../domain/rollout-state';
import { ALL_STATUSES } from '../../domain/status';
import {
  adminErrors as admin,
  cursorParam,
  error,
  idParam,
  type Json,
  jsonBodyErrors,
  limitParam,
  queryParam,
  ref,
} from './common';

const temporalDown = { '503': error('Temporal unavailable: nothing was changed; retry later') };
const nullableTime = { type: 'string', format: 'date-time', nullable: true };
const counts = {
  type: 'object',
  additionalProperties: { type: 'integer' },
  description: 'Jobs per status (SPEC status strings; never-started jobs under "Not started").',
};
const nextCursor = {
  type: 'string',
  nullable: true,
  description: 'Give it as `cursor` for the next page; null on the last page.',
};
const ok = (description: string, schema: Json) => ({ description, content: { 'application/json': { schema } } });

const reportEntry = {
  type: 'object',
  required: ['installationId', 'deviceId', 'externalId', 'platform', 'status'],
  properties: {
    installationId: { type: 'string', format: 'uuid' },
    deviceId: { type: 'string', format: 'uuid' },
    externalId: { type: 'string' },
    platform: { type: 'string' },
    status: { type: 'string', nullable: true },
    reason: { type: 'string', description: 'failed: the last error of the job’s log (else its detail, else its status)' },
    startedAt: nullableTime,
    endedAt: nullableTime,
    lastContactAt: { ...nullableTime, description: 'not-heard-from: the device’s last contact (null: never)' },
  },
};
const reportList = (what: string) => ({
  type: 'object',
  required: ['total'],
  description: `${what}. \`entries\` and \`nextCursor\` are given for the lists asked for (all three without \`list\`).`,
  properties: { total: { type: 'integer' }, entries: { type: 'array', items: reportEntry }, nextCursor },
});

const retryRequest = {
  type: 'object',
  additionalProperties: false,
  properties: {
    statuses: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', enum: [...ALL_STATUSES] },
      default: ['Installation failed', 'Unknown status'],
      description: 'The devices whose jobs ended in one of these statuses are retried.',
    },
    schedule: {
      ...ref('Schedule'),
      description:
        'Default: the source rollout’s quota, weekdays, window and time zone, from today; the fields given replace theirs.',
    },
    options: {
      ...ref('InstallOptions'),
      description: 'Default: the source rollout’s options (Use DM, push method, maxPushAttempts).',
    },
    groups: { description: 'As in POST /rollouts.' },
    safety: { description: 'As in POST /rollouts.' },
    notify: { type: 'array', items: { type: 'string', format: 'email' }, description: 'Default: the source rollout’s.' },
  },
};

function reportPaths(): Json {
  return {
    '/api/v1/rollouts': {
      get: {
        tags: ['rollouts'],
        operationId: 'listRollouts',
        summary: 'The rollouts, newest first, with jobs per status (P1)',
        parameters: [queryParam('state', { type: 'string', enum: [...ROLLOUT_STATES] }), limitParam(50, 200), cursorParam],
        responses: {
          '200': ok('A page of rollouts', {
            type: 'object',
            properties: {
              rollouts: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string', format: 'uuid' },
                    state: { type: 'string', enum: [...ROLLOUT_STATES] },
                    software: {
                      type: 'object',
                      properties: {
                        id: { type: 'string', format: 'uuid' },
                        name: { type: 'string' },
                        version: { type: 'string' },
                      },
                    },
                    total: { type: 'integer' },
                    counts,
                    retryOf: { type: 'string', format: 'uuid', nullable: true, description: 'The rollout this one retries.' },
                    createdAt: { type: 'string', format: 'date-time' },
                    completedAt: nullableTime,
                  },
                },
              },
              nextCursor,
            },
          }),
          '400': error('Invalid or unknown query parameter (`field` names it)'),
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}/report': {
      get: {
        tags: ['rollouts'],
        operationId: 'getRolloutReport',
        summary: 'The rollout report (P1): counts per status, succeeded, failed with reasons, not heard from',
        description:
          'Succeeded: a final success status. Failed: `Installation failed` or `Unknown status`, with the reason (the last error of the job’s log). Not heard from: started, and the device has not contacted the server since the job started (whatever its status). Entries in planned order, paged per list (`list` with `cursor`).',
        parameters: [
          idParam('rollout'),
          queryParam('list', { type: 'string', enum: [...REPORT_LISTS] }, 'Only this list (needed with `cursor`)'),
          limitParam(50, 1000),
          cursorParam,
        ],
        responses: {
          '200': ok('The report', {
            type: 'object',
            properties: {
              rolloutId: { type: 'string', format: 'uuid' },
              state: { type: 'string', enum: [...ROLLOUT_STATES] },
              software: {
                type: 'object',
                properties: { id: { type: 'string' }, name: { type: 'string' }, version: { type: 'string' } },
              },
              retryOf: { type: 'string', format: 'uuid', nullable: true },
              createdAt: { type: 'string', format: 'date-time' },
              completedAt: nullableTime,
              total: { type: 'integer' },
              counts,
              succeeded: reportList('Jobs that ended in a success status'),
              failed: reportList('Jobs that failed, each with its reason'),
              notHeardFrom: reportList('Jobs whose device has not been heard from since the job started'),
              csv: { type: 'string', description: 'Path of the CSV of every job' },
            },
          }),
          '400': error('Invalid or unknown query parameter (`field` names it)'),
          '404': error('Unknown rollout'),
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}/installations.csv': {
      get: {
        tags: ['rollouts'],
        operationId: 'getRolloutCsv',
        summary: 'Every job of the rollout as CSV, streamed',
        description:
          'Columns: device external id, platform, group, status, started, ended, reason (RFC 4180, CRLF, times ISO 8601 UTC). Streamed from a PostgreSQL cursor with backpressure: the API’s memory stays flat whatever the size (docs/performance.md).',
        parameters: [idParam('rollout')],
        responses: {
          '200': { description: 'The CSV', content: { 'text/csv': { schema: { type: 'string' } } } },
          '404': error('Unknown rollout'),
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}/retry': {
      post: {
        tags: ['rollouts'],
        operationId: 'retryRollout',
        summary: 'A new rollout of the devices whose jobs ended in `statuses` (retryOf)',
        description:
          'The source must be over (completed, or cancelled with every job settled). The new rollout is checked like POST /rollouts (per device too); retired devices are not retried. Unlike `options.maxPushAttempts` — pushes of the same job, one after another as each link expires unused — a retry is a new rollout with new jobs, its own schedule, groups and report.',
        parameters: [idParam('rollout')],
        requestBody: { required: false, content: { 'application/json': { schema: retryRequest } } },
        responses: {
          '201': ok('Created; its workflow is started', {
            allOf: [
              ref('RolloutCreated'),
              {
                type: 'object',
                properties: {
                  retryOf: { type: 'string', format: 'uuid' },
                  statuses: { type: 'array', items: { type: 'string' } },
                },
              },
            ],
          }),
          '400': error('Invalid request, or no device matches (`field`: `statuses`)'),
          '404': error('Unknown rollout'),
          '409': error('The source rollout is still running (or paused, or its cancel is settling)'),
          ...jsonBodyErrors,
          ...temporalDown,
          ...admin,
        },
      },
    },
    '/api/v1/installations/{id}/cancel': {
      post: {
        tags: ['installations'],
        operationId: 'cancelInstallation',
        summary: 'Cancel one job (the rules of a rollout’s cancel)',
        description:
          'A job not started yet ends `Cancelled` at once; a running one’s install is cancelled (it revokes its links and records `Cancelled`). A job whose software has reached the device (… – Waiting for verification) or that has ended: 409.',
        parameters: [idParam('installation')],
        requestBody: { required: false, content: { 'application/json': { schema: ref('CancelRequest') } } },
        responses: {
          '200': ok('Cancelled (not-started) or asked to cancel (running)', {
            type: 'object',
            properties: {
              id: { type: 'string', format: 'uuid' },
              rolloutId: { type: 'string', format: 'uuid' },
              deviceId: { type: 'string', format: 'uuid' },
              cancelled: { type: 'string', enum: ['not-started', 'running'] },
              status: { type: 'string', nullable: true },
            },
          }),
          '400': error('Invalid body'),
          '404': error('Unknown installation'),
          '409': error('The job has ended, or its software has reached the device'),
          ...jsonBodyErrors,
          ...temporalDown,
          ...admin,
        },
      },
    },
  };
}

/** The rollout paths with these added (`/api/v1/rollouts` gets its GET beside the POST of rollout-paths.ts). */
export function withReportPaths(paths: Json): Json {
  const out: Json = { ...paths };
  for (const [path, item] of Object.entries(reportPaths())) out[path] = { ...(out[path] as Json | undefined), ...(item as Json) };
  return out;
}
