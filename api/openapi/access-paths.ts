/** Operations of the admin keys and the audit log (api/admin/admin-keys.ts); role admin. */
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
} from './common';

export function accessPaths(): Json {
  return {
    '/api/v1/admin-keys': {
      post: {
        tags: ['access'],
        operationId: 'createAdminKey',
        summary: 'Issue an admin key with a role; the key is shown once (only its SHA-256 is stored)',
        requestBody: body('AdminKeyRequest'),
        responses: {
          '201': json('AdminKeyCreated', 'Issued'),
          '400': error('Invalid request; `field` names the offending field'),
          ...jsonBodyErrors,
          ...admin,
        },
      },
      get: {
        tags: ['access'],
        operationId: 'listAdminKeys',
        summary: 'Every admin key (never the keys themselves)',
        responses: { '200': json('AdminKeyList', 'The keys, oldest first'), ...admin },
      },
    },
    '/api/v1/admin-keys/{id}': {
      delete: {
        tags: ['access'],
        operationId: 'revokeAdminKey',
        summary: 'Revoke an admin key: its requests are refused with 403 from now on (idempotent)',
        parameters: [idParam('admin key')],
        responses: { '200': json('AdminKey', 'Revoked'), '404': error('Unknown admin key'), ...admin },
      },
    },
    '/api/v1/audit': {
      get: {
        tags: ['access'],
        operationId: 'listAudit',
        summary: 'The audit log, newest first: every state-changing admin request and every refused one',
        description: 'Records are never changed or deleted (the 7-day purge leaves them too).',
        parameters: [
          queryParam('keyId', { type: 'string', format: 'uuid' }, 'Requests made with this admin key'),
          queryParam('targetId', { type: 'string' }, 'Requests about this rollout, device, software or key id'),
          queryParam('since', { type: 'string', format: 'date-time' }, 'Requests at or after this time'),
          limitParam(100, 1000),
          cursorParam,
        ],
        responses: { '200': json('AuditPage', 'A page of the audit log'), '400': error('Invalid query'), ...admin },
      },
    },
  };
}
