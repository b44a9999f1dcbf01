/**
 * The admin console (api/console.ts: the page and its two assets, public — the page asks for an admin
 * key and sends it only to the admin API) and `GET /api/v1/me` (api/admin/me.ts), which tells a client
 * the role of the key it holds.
 */
import { adminErrors as admin, type Json, PUBLIC } from './common';

const asset = (operationId: string, summary: string, type: string) => ({
  get: {
    tags: ['console'],
    operationId,
    summary,
    security: PUBLIC,
    responses: {
      '200': { description: type, content: { [type]: { schema: { type: 'string' } } } },
      '500': { description: 'The console could not be built (console/ missing or broken)' },
    },
  },
});

export function consolePaths(): Json {
  return {
    '/': {
      get: {
        tags: ['console'],
        operationId: 'console',
        summary: 'The admin console: rollouts, the Installation window (new rollout), Installation status, devices, software',
        description:
          "Sign-in with an admin key (kept in the browser tab's sessionStorage, sent only as `Authorization: Bearer`). Every action goes through this API; the buttons shown follow the key's role (`GET /api/v1/me`).",
        security: PUBLIC,
        responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/console/app.js': asset(
      'consoleScript',
      "The console's script (Preact, bundled at first request)",
      'application/javascript',
    ),
    '/console/app.css': asset('consoleStyles', "The console's style sheet", 'text/css'),
    '/api/v1/me': {
      get: {
        tags: ['access'],
        operationId: 'whoAmI',
        summary: 'The admin key of this request: its name and role (never the key), and where the Temporal UI is',
        responses: {
          '200': {
            description: 'The key',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['keyId', 'name', 'role', 'temporal'],
                  properties: {
                    keyId: { type: 'string', format: 'uuid', nullable: true, description: 'null for ADMIN_API_KEY' },
                    name: { type: 'string' },
                    role: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
                    temporal: {
                      type: 'object',
                      required: ['namespace', 'uiUrl'],
                      properties: {
                        namespace: { type: 'string' },
                        uiUrl: {
                          type: 'string',
                          description:
                            'The Temporal Web UI: TEMPORAL_UI_URL, else the embedded dev server (TEMPORAL_UI_PORT) on the host of the request',
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...admin,
        },
      },
    },
  };
}
