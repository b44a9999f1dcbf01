/**
 * Operations devices call: the device endpoints behind the device token (api/device/sync-and-reports.ts,
 * mounted on /api/v1/device), the ticket links (api/device/downloads.ts, mounted on /d: the ticket
 * is the secret) and the OMA DM session endpoint (api/device/dm.ts, mounted on /dm: credentials
 * inside SyncML).
 */
import { body, DEVICE, deviceErrors, error, type Json, json, jsonBodyErrors, PUBLIC, pathParam, rateLimited } from './common';

const SYNCML = 'application/vnd.syncml.dm+xml';
const SYNCML_WBXML = 'application/vnd.syncml.dm+wbxml';

const ticketParam = pathParam('ticket', 'The download link ticket (its secret): 8–200 of A–Z a–z 0–9 _ -', {
  type: 'string',
  pattern: '^[A-Za-z0-9_-]{8,200}$',
});

const headerParam = (name: string, description: string) => ({
  name,
  in: 'header',
  required: false,
  description,
  schema: { type: 'string' },
});

const header = (description: string, schema: Json = { type: 'string' }) => ({ description, schema });

/** Headers of a file answer (200/206, GET and HEAD). */
const fileHeaders = {
  'Accept-Ranges': header('`bytes`'),
  ETag: header('The quoted SHA-256 of the file (use it in If-Range)'),
  'Last-Modified': header('When the file was uploaded'),
  'X-Checksum-SHA256': header('SHA-256 of the whole file, hex'),
  Digest: header('`sha-256=<base64>` of the whole file'),
  'Repr-Digest': header('`sha-256=:<base64>:` of the whole file'),
  'Content-Length': header('Bytes in this answer', { type: 'integer' }),
  'Content-Disposition': header('`attachment` with the file name'),
};

const ticketErrors = {
  '404': error('Unknown (or malformed) ticket: reveals nothing'),
  '410': error('The link has expired (PUSH_TICKET_LIFETIME) or was revoked'),
  ...rateLimited,
};

/** GET and HEAD of a ticket link: the same answers, HEAD without the bytes. */
function download(method: 'get' | 'head'): Json {
  const binary = (description: string, headers: Json) =>
    method === 'get'
      ? { description, headers, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }
      : { description, headers };
  return {
    tags: ['downloads'],
    operationId: method === 'get' ? 'download' : 'downloadHead',
    summary:
      method === 'get' ? 'Download the file of a link, resumable (D3)' : 'Size, checksum and range support of a link, no bytes',
    description:
      'One byte range (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) is answered 206; malformed or several ranges get the whole file. `If-Range` (ETag or Last-Modified) applies the range only to the same file. The Content-Type follows the file format (application/vnd.android.package-archive, …; application/octet-stream otherwise). A GET that serves the last byte completes the download: the install workflow is told `downloaded` once, however often the link is fetched (and not again by a download-end report of the device for that link).',
    security: PUBLIC,
    parameters: [
      ticketParam,
      headerParam('Range', 'One byte range, e.g. `bytes=1048576-`'),
      headerParam('If-Range', 'The ETag or Last-Modified of the partial file held'),
    ],
    responses: {
      '200': binary('The whole file', fileHeaders),
      '206': binary('The requested range', {
        ...fileHeaders,
        'Content-Range': header('`bytes <first>-<last>/<size>`'),
      }),
      ...ticketErrors,
      '416': {
        ...error('The range starts beyond the end of the file'),
        headers: { 'Content-Range': header('`bytes */<size>`') },
      },
      '500': error('The stored file is missing or damaged'),
    },
  };
}

export function devicePaths(): Json {
  return {
    '/api/v1/device/sync': {
      post: {
        tags: ['device'],
        operationId: 'deviceSync',
        summary: 'System-info sync: store the inventory, verify installs, list pending Mark-for-installation jobs (D1, D4)',
        description:
          'A late sync (older `reportedAt` than the stored one) does not overwrite the inventory (D5); every open job of the device is told of it: the signals are queued with the request (signal outbox) and delivered to the install workflows by the API, so the answer never waits on Temporal, and it is the same while Temporal is unreachable.',
        security: DEVICE,
        requestBody: body('DeviceSync'),
        responses: {
          '200': json('DeviceSyncResult', 'Stored (unless late); the pending installs'),
          '400': error('Invalid request; `field` names the offending field'),
          ...jsonBodyErrors,
          ...deviceErrors,
        },
      },
    },
    '/api/v1/device/reports': {
      post: {
        tags: ['device'],
        operationId: 'deviceReport',
        summary: 'Report a download / install phase of a job (D2)',
        description:
          'download-end success tells the install workflow the file arrived (once per download link: not again when the completed download of the link told it); any failure tells it the download failed. The entry and its signal are stored together and the signal is delivered by the API (signal outbox): the answer never waits on Temporal, and a report taken while Temporal is unreachable is delivered when it is back. Repeats are harmless (D5): a repeat of an accepted report changes nothing (`duplicate: true`).',
        security: DEVICE,
        requestBody: body('DeviceReport'),
        responses: {
          '202': json('DeviceReportAccepted', 'Logged on the job (its signal queued for the workflow)'),
          '400': error('Invalid request; `field` names the offending field'),
          '404': error('No such job of this device'),
          ...jsonBodyErrors,
          ...deviceErrors,
        },
      },
    },
    '/d/{ticket}': { get: download('get'), head: download('head') },
    '/d/{ticket}/manifest.plist': {
      get: {
        tags: ['downloads'],
        operationId: 'iosManifest',
        summary: 'The itms-services manifest of an in-house iOS app (R6): .ipa link, bundle id, version, title',
        security: PUBLIC,
        parameters: [ticketParam],
        responses: {
          '200': {
            description: 'The manifest (Apple plist)',
            content: { 'text/xml': { schema: { type: 'string' } } },
          },
          ...ticketErrors,
          '404': error('Unknown ticket, or its software is not an in-house iOS app'),
        },
      },
    },
    '/dm': {
      post: {
        tags: ['dm'],
        operationId: 'dmSession',
        summary: 'OMA DM session message (SyncML DM 1.2, M1, M2)',
        description:
          'Devices authenticate inside SyncML (syncml:auth-md5 in the SyncHdr, or HMAC in `x-syncml-hmac`), not with a bearer token. Every message that is processed is answered HTTP 200 with a SyncML reply; protocol outcomes (212, 407, 401 …) are SyncML status codes inside it. A retransmitted message gets the identical reply. Other methods answer 405 (`Allow: POST`). Details: docs/dm.md.',
        security: PUBLIC,
        parameters: [headerParam('x-syncml-hmac', 'HMAC authentication: `algorithm=MD5, username="…", mac=…` over the raw body')],
        requestBody: {
          required: true,
          content: {
            [SYNCML]: { schema: { type: 'string', description: 'SyncML DM message (XML)' } },
            [SYNCML_WBXML]: { schema: { type: 'string', format: 'binary', description: 'SyncML DM message (WBXML)' } },
          },
        },
        responses: {
          '200': {
            description:
              'The SyncML reply, in the encoding of the request (`Cache-Control: no-store`), never larger than the MaxMsgSize the device announced',
            headers: { 'x-syncml-hmac': header('The signature of the reply, for HMAC accounts') },
            content: {
              [SYNCML]: { schema: { type: 'string' } },
              [SYNCML_WBXML]: { schema: { type: 'string', format: 'binary' } },
            },
          },
          '400': error('Empty, malformed or not a SyncML DM message'),
          '413': error('Larger than DM_MAX_MESSAGE_SIZE'),
          '415': error(`Neither ${SYNCML} nor ${SYNCML_WBXML}`),
          '503': error('Temporal unavailable: nothing was stored; the device retransmits the message'),
        },
      },
    },
  };
}
