/**
 * Operations for operators and gateways, none behind the admin key: /health (api/health.ts),
 * /metrics (api/metrics.ts), this document and its page (api/openapi.ts), and Kannel's delivery
 * report callback (api/callbacks/kannel-dlr.ts).
 */
import { error, type Json, json, PUBLIC, queryParam } from './common';

export function servicePaths(): Json {
  return {
    '/health': {
      get: {
        tags: ['operations'],
        operationId: 'health',
        summary: 'Temporal and PostgreSQL reachability, each probed on its own (3 s timeout)',
        security: PUBLIC,
        responses: { '200': json('Health', 'Both reachable'), '503': json('Health', 'One is down (`status: "degraded"`)') },
      },
    },
    '/metrics': {
      get: {
        tags: ['operations'],
        operationId: 'metrics',
        summary: 'Prometheus metrics: HTTP requests per route, jobs per status, pushes per channel, rollouts per state',
        security: PUBLIC,
        responses: {
          '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
          '500': error('PostgreSQL could not be read'),
        },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['operations'],
        operationId: 'openApiDocument',
        summary: 'This OpenAPI document',
        security: PUBLIC,
        responses: {
          '200': { description: 'OpenAPI 3.0', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
    '/docs': {
      get: {
        tags: ['operations'],
        operationId: 'apiDocs',
        summary: 'This document as a web page (no external resources)',
        security: PUBLIC,
        responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/callbacks/kannel/dlr': {
      get: {
        tags: ['callbacks'],
        operationId: 'kannelDeliveryReport',
        summary: "Kannel's delivery report of a message (the dlr-url the Kannel channel puts on every message)",
        description:
          "Records the state on the message (only forward: accepted or buffered by the SMSC → sent, delivered → delivered, failed or rejected → failed) and an entry in its job's log; duplicate reports are harmless. A message whose send went unanswered (`unconfirmed`) is not sent again once its report says it was accepted. With KANNEL_DLR_TOKEN set, `token` must carry it; without it the callback is open.",
        security: [{ kannelDlrToken: [] }, {}],
        parameters: [
          { ...queryParam('key', { type: 'string' }, 'Idempotency key of the message'), required: true },
          {
            ...queryParam(
              'status',
              { type: 'integer' },
              "Kannel's DLR type (%d): 1 delivered, 2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC rejected",
            ),
            required: true,
          },
          queryParam('kind', { type: 'string', enum: ['sms', 'wap', 'binary'] }),
          queryParam('reply', { type: 'string' }, "The SMSC's reply (%A)"),
          queryParam('to', { type: 'string' }, 'Recipient (%p)'),
          queryParam('at', { type: 'integer' }, 'Unix time of the report (%T)'),
        ],
        responses: {
          '200': json('DeliveryReportRecorded', 'Recorded (or already known)'),
          '400': error('Not a delivery report: key and status are required'),
          '401': error('Wrong or missing token (KANNEL_DLR_TOKEN is set)'),
          '404': error('Unknown message'),
        },
      },
    },
  };
}
