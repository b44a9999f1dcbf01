/**
 * The OpenAPI 3.0 document of EVERY HTTP route of the app (api/app.ts), served at `/openapi.json`;
 * `/docs` is a self-contained HTML page (no CDN: the server may have no internet) that renders it.
 *
 *  - api/openapi/rollout-paths.ts   admin: rollouts, installation tables and logs
 *  - api/openapi/report-paths.ts    admin: rollout list, report, CSV, retry; one job's cancel (issue 14)
 *  - api/openapi/admin-paths.ts     admin: devices, software (multipart upload), messages, diagnostics
 *  - api/openapi/access-paths.ts    admin: admin keys and the audit log
 *  - api/openapi/device-paths.ts    devices: /api/v1/device/* (device token), /d/* ticket links, /dm (OMA DM)
 *  - api/openapi/service-paths.ts   /health, /metrics, /openapi.json, /docs, the Kannel DLR callback
 *  - api/openapi/console-paths.ts   the admin console (/, its assets) and GET /api/v1/me (the caller's role)
 *  - api/openapi/schemas.ts         components: request bodies GENERATED from the zod schemas that validate
 *                                   them (`z.toJSONSchema`), response shapes
 *  - api/openapi/docs-page.ts       the /docs page
 *
 * Security: admin routes take the admin key (the document's default), device routes the device token;
 * every other operation says its own. Each admin operation states the role it needs
 * (`x-required-role`, from api/admin/admin-auth.ts `roleFor`, the rule the server applies).
 * test/unit/openapi.test.ts fails when a route registered in the
 * app is missing here, or a documented one is not served.
 */
import { Router } from 'express';
import { roleFor } from './admin/admin-auth';
import { accessPaths } from './openapi/access-paths';
import { adminPaths } from './openapi/admin-paths';
import { ADMIN, type Json } from './openapi/common';
import { consolePaths } from './openapi/console-paths';
import { devicePaths } from './openapi/device-paths';
import { DOCS_HTML } from './openapi/docs-page';
import { withReportPaths } from './openapi/report-paths';
import { rolloutPaths } from './openapi/rollout-paths';
import { componentSchemas } from './openapi/schemas';
import { servicePaths } from './openapi/service-paths';

export { DOCS_HTML } from './openapi/docs-page';

const TAGS = [
  { name: 'rollouts', description: 'Start, preview, watch and control rollouts (admin)' },
  { name: 'installations', description: 'The Installing / Installed tables and job logs (admin)' },
  { name: 'devices', description: 'Device registration and health (admin)' },
  { name: 'software', description: 'Software packages and their files (admin)' },
  { name: 'messages', description: 'SMS, WAP and binary pushes and mails sent or recorded (admin)' },
  { name: 'diagnostics', description: 'End-to-end checks (admin)' },
  { name: 'access', description: 'Admin keys with roles and the audit log (admin)' },
  { name: 'device', description: 'Called by devices with their device token' },
  { name: 'downloads', description: 'Download links (tickets): the ticket is the secret' },
  { name: 'dm', description: 'OMA DM sessions: SyncML credentials' },
  { name: 'callbacks', description: 'Called by gateways' },
  { name: 'operations', description: 'Health, metrics and this documentation' },
  { name: 'console', description: 'The admin console at / (a web page over this API)' },
];

const API_PREFIX = '/api/v1';

/**
 * Every operation behind the admin key (no `security` of its own) gets `x-required-role` and a line
 * in its description: the role `requireAdmin` asks for (`roleFor` on the path below /api/v1).
 */
function withRoles(paths: Json): Json {
  const out: Json = {};
  for (const [path, item] of Object.entries(paths)) {
    const next: Json = { ...(item as Json) };
    for (const [method, op] of Object.entries(item as Json)) {
      if (!['get', 'put', 'post', 'delete', 'patch', 'head'].includes(method)) continue;
      const o = op as Json;
      if (o.security !== undefined || !path.startsWith(`${API_PREFIX}/`)) continue;
      const role = roleFor(method, path.slice(API_PREFIX.length));
      const line = `Role: \`${role}\` or above (viewer < operator < admin).`;
      next[method] = { ...o, 'x-required-role': role, description: o.description ? `${o.description}\n\n${line}` : line };
    }
    out[path] = next;
  }
  return out;
}

export function buildOpenApiDocument(opts: { serverUrl?: string; extraPaths?: Json; extraSchemas?: Json } = {}): Json {
  return {
    openapi: '3.0.3',
    info: {
      title: 'DeviceRollout API',
      version: '1',
      description:
        'Installs client software on fleets of managed devices, paced by a daily quota inside weekday and time-of-day windows. Admin routes take `Authorization: Bearer <admin key>`, device routes `Authorization: Bearer <device token>`; download links carry their own secret. Errors: `{ "error": { "code", "message", "field"? } }`.',
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    security: ADMIN,
    tags: TAGS,
    paths: withRoles({
      ...withReportPaths(rolloutPaths()),
      ...adminPaths(),
      ...accessPaths(),
      ...devicePaths(),
      ...servicePaths(),
      ...consolePaths(),
      ...opts.extraPaths,
    }),
    components: {
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'Admin API key (`dra_…`, or ADMIN_API_KEY)' },
        deviceToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'Device token (`drd_…`), issued once at registration (POST /api/v1/devices)',
        },
        kannelDlrToken: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'KANNEL_DLR_TOKEN, when set: the secret of the delivery report callback',
        },
      },
      schemas: { ...componentSchemas(), ...opts.extraSchemas },
    },
  };
}

/** `GET /openapi.json` and `GET /docs` (public: the document holds no secrets). */
export function openApiRoutes(opts: { extraPaths?: Json; extraSchemas?: Json } = {}): Router {
  const r = Router();
  let doc: Json | undefined;
  r.get('/openapi.json', (_req, res) => {
    doc ??= buildOpenApiDocument(opts);
    res.json(doc);
  });
  r.get('/docs', (_req, res) => {
    res
      .type('html')
      .set('Content-Security-Policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'")
      .send(DOCS_HTML);
  });
  return r;
}
