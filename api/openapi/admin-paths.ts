/**
 * Operations of the other admin routes: devices (api/admin/devices.ts), software with its multipart
 * upload (api/admin/software.ts), messages (api/admin/messages.ts) and the diagnostics round trip
 * (api/admin/diagnostics.ts). All behind the admin key.
 */
import {
  adminErrors as admin,
  body,
  cursorParam,
  error,
  idParam,
  type Json,
  json,
  jsonBodyErrors,
  limitParam,
  queryParam,
  ref,
} from './common';

export function adminPaths(): Json {
  return {
    '/api/v1/devices': {
      post: {
        tags: ['devices'],
        operationId: 'registerDevices',
        summary: 'Register devices (one batch, at most 1000); each device token is shown once',
        description: 'Only the SHA-256 of a device token is stored: keep the token from this answer.',
        requestBody: body('DeviceRegistration'),
        responses: {
          '201': json('DevicesRegistered', 'Registered'),
          '400': error('Invalid request; `field` names the offending field (e.g. `devices.3.msisdn`)'),
          '409': error('An externalId is already registered, or appears twice in the request (`field` names it)'),
          ...jsonBodyErrors,
          ...admin,
        },
      },
      get: {
        tags: ['devices'],
        operationId: 'listDevices',
        summary: 'Devices in registration order',
        description: 'Every condition given must hold (AND). Retired devices are listed only with `retired=true`.',
        parameters: [
          queryParam('platform', ref('Platform')),
          queryParam('tag', { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }, 'Devices carrying this tag'),
          queryParam('installed', { type: 'string', maxLength: 200 }, 'Devices reporting this software (R8 name match)'),
          queryParam(
            'below',
            { type: 'string', maxLength: 100 },
            'With `installed`: only those reporting it in a version below this one (R8 version order)',
          ),
          queryParam(
            'silentFor',
            { type: 'string', example: '7d' },
            'Devices not heard from for at least this long (or never): a duration such as 7d, 12h',
          ),
          queryParam(
            'retired',
            { type: 'string', enum: ['true', 'false'] },
            'true: only retired devices; default: those in service',
          ),
          limitParam(50, 500),
          cursorParam,
        ],
        responses: { '200': json('DevicePage', 'A page of devices'), '400': error('Invalid query'), ...admin },
      },
    },
    '/api/v1/devices/{id}': {
      get: {
        tags: ['devices'],
        operationId: 'getDevice',
        summary: 'A device, its health (last contact, last sync), its history and its jobs with their logs (P2)',
        parameters: [idParam('device')],
        responses: { '200': json('DeviceDetail', 'The device (also a retired one)'), '404': error('Unknown device'), ...admin },
      },
      patch: {
        tags: ['devices'],
        operationId: 'updateDevice',
        summary: 'Change a device: msisdn, bootstrapped, tags, platform (each change in its history)',
        description: 'A changed MSISDN is used by the next push of any job of the device, retries of running jobs included.',
        parameters: [idParam('device')],
        requestBody: body('DeviceChange'),
        responses: {
          '200': json('DeviceWithHistory', 'The device as changed, with its history'),
          '400': error('Invalid request; `field` names the offending field'),
          '404': error('Unknown device'),
          '409': error('The device is retired'),
          ...jsonBodyErrors,
          ...admin,
        },
      },
      delete: {
        tags: ['devices'],
        operationId: 'retireDevice',
        summary: 'Retire a device: its running jobs cancelled, its token refused, never selected again',
        description:
          'The record and its job history stay readable (`retiredAt`). Running jobs are cancelled like a rollout cancel cancels them: the install workflow revokes its tickets and records `Cancelled`. Idempotent.',
        parameters: [idParam('device')],
        responses: { '200': json('DeviceRetired', 'Retired (now or before)'), '404': error('Unknown device'), ...admin },
      },
    },
    '/api/v1/devices/{id}/token': {
      post: {
        tags: ['devices'],
        operationId: 'newDeviceToken',
        summary: 'A new device token (shown once); the old one stops working at once',
        parameters: [idParam('device')],
        responses: {
          '201': json('DeviceToken', 'The new token'),
          '404': error('Unknown device'),
          '409': error('The device is retired'),
          ...admin,
        },
      },
    },
    '/api/v1/software': {
      post: {
        tags: ['software'],
        operationId: 'uploadSoftware',
        summary: 'Upload software: one or more files (variants such as a .cab and an .exe) and its description',
        description:
          'multipart/form-data. The files stream to FILES_DIR while their SHA-256 is computed; nothing is kept when the request is refused. `sha256` and `size` of the answer are those of the first file.',
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: ref('SoftwareUpload'),
              encoding: { file: { contentType: 'application/octet-stream' } },
            },
          },
        },
        responses: {
          '201': json('Software', 'Stored'),
          '400': error('Invalid field or file (`field` names it), not multipart/form-data, or more than 10 files'),
          '409': error('This name and version exist already'),
          '413': error('A file is larger than SOFTWARE_MAX_BYTES'),
          ...admin,
        },
      },
      get: {
        tags: ['software'],
        operationId: 'listSoftware',
        summary: 'Software in upload order',
        parameters: [limitParam(50, 500), cursorParam],
        responses: { '200': json('SoftwarePage', 'A page of software'), '400': error('Invalid query'), ...admin },
      },
    },
    '/api/v1/software/{id}': {
      get: {
        tags: ['software'],
        operationId: 'getSoftware',
        summary: 'One software and its files',
        parameters: [idParam('software')],
        responses: { '200': json('Software', 'The software'), '404': error('Unknown software'), ...admin },
      },
    },
    '/api/v1/messages': {
      get: {
        tags: ['messages'],
        operationId: 'listMessages',
        summary: 'Messages sent (or only recorded, with PUSH_TRANSPORT=recording), newest first',
        description:
          'SMS and WAP push texts with their links, binary pushes (DM trigger, CP bootstrap; base64 in `payload`) and mails.',
        parameters: [
          queryParam('to', { type: 'string' }, 'Recipient (MSISDN or address) exactly as stored'),
          queryParam('channel', { type: 'string', enum: ['sms', 'wap', 'binary', 'mail'] }),
          queryParam('installationId', { type: 'string', format: 'uuid' }, 'Only the messages of this job'),
          queryParam(
            'afterId',
            { type: 'integer', format: 'int64', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
            'Only messages with an id above this one (still newest first and paged by `cursor`): a poller passes the highest id it has read and gets only what is newer',
          ),
          limitParam(50, 1000),
          cursorParam,
        ],
        responses: { '200': json('MessagePage', 'A page of messages'), '400': error('Invalid query'), ...admin },
      },
    },
    '/api/v1/diagnostics/round-trip': {
      post: {
        tags: ['diagnostics'],
        operationId: 'diagnosticsRoundTrip',
        summary: 'Prove the chain: a workflow whose activity writes a row to PostgreSQL, read back',
        responses: {
          '200': json('RoundTrip', 'A worker ran the workflow and its activity'),
          '500': error('Temporal could not start the workflow'),
          '504': error('No worker completed the round trip within 20 s'),
          ...admin,
        },
      },
    },
  };
}
