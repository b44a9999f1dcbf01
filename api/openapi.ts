/**
 * The OpenAPI 3.0 document of the admin rollout API, GENERATED from the zod schemas that validate the
 * requests (domain/rollout-request.ts, `z.toJSONSchema` of its registry), served at `/openapi.json`;
 * `/docs` is a self-contained HTML page (no CDN: the server may have no internet) that renders it.
 *
 * Other route modules add their operations with `extraPaths`/`extraSchemas` of `buildOpenApiDocument`.
 */
import { Router } from 'express';
import { z } from 'zod';
import { apiSchemas } from '../domain/rollout-request';
import { ALL_STATUSES } from '../domain/status';

type Json = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string, description: string) => ({ description, content: { 'application/json': { schema: ref(id) } } });
const error = (description: string) => json('Error', description);
const idParam = (what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `${what} id`,
  schema: { type: 'string', format: 'uuid' },
});
const body = (id: string) => ({ required: true, content: { 'application/json': { schema: ref(id) } } });

const adminErrors = {
  '401': error('Missing or invalid admin key'),
  '403': error('Revoked admin key'),
};

function paths(): Json {
  return {
    '/api/v1/rollouts': {
      post: {
        tags: ['rollouts'],
        summary: 'Start a rollout',
        description:
          'Validates every field (R1 Use DM applicability, R7 file per platform), writes the rollout and one installation job per device (bulk), starts the rollout workflow.',
        requestBody: body('RolloutRequest'),
        responses: {
          '201': json('RolloutCreated', 'Created; the workflow is started'),
          '400': error('Invalid request; `field` names the offending field'),
          ...adminErrors,
          '503': error('Temporal unavailable: nothing was created'),
        },
      },
    },
    '/api/v1/rollouts/preview': {
      post: {
        tags: ['rollouts'],
        summary: 'Preview the planned start of every device (dry run, S9)',
        description:
          'Same body and validation as POST /rollouts; nothing is written or started. `days` is always complete; `slots` lists the first `limit`.',
        parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } }],
        requestBody: body('RolloutRequest'),
        responses: { '200': json('RolloutPreview', 'The plan'), '400': error('Invalid request'), ...adminErrors },
      },
    },
    '/api/v1/rollouts/{id}': {
      get: {
        tags: ['rollouts'],
        summary: 'Rollout state, counts per status, next start',
        parameters: [idParam('rollout')],
        responses: { '200': json('RolloutStatus', 'The rollout'), '404': error('Unknown rollout'), ...adminErrors },
      },
    },
    ...Object.fromEntries(
      (['pause', 'resume', 'cancel'] as const).map((op) => [
        `/api/v1/rollouts/{id}/${op}`,
        {
          post: {
            tags: ['rollouts'],
            summary:
              op === 'pause'
                ? 'Pause: no further starts until resumed'
                : op === 'resume'
                  ? "Resume: replanned from now, keeping today's quota"
                  : 'Cancel: no further starts, not-started jobs Cancelled, running installs cancelled',
            parameters: [idParam('rollout')],
            ...(op === 'cancel'
              ? { requestBody: { required: false, content: { 'application/json': { schema: ref('CancelRequest') } } } }
              : {}),
            responses: {
              '200': json('RolloutProgress', 'Accepted'),
              '404': error('Unknown rollout'),
              '409': error('Not possible in the rollout state (the reason says why)'),
              ...adminErrors,
            },
          },
        },
      ]),
    ),
    '/api/v1/rollouts/{id}/schedule': {
      patch: {
        tags: ['rollouts'],
        summary: 'Change the schedule (replanned at once; never more starts than the quota on any day)',
        parameters: [idParam('rollout')],
        requestBody: body('ScheduleChange'),
        responses: {
          '200': json('RolloutProgress', 'Accepted'),
          '400': error('Invalid schedule'),
          '404': error('Unknown rollout'),
          '409': error('The rollout is over'),
          ...adminErrors,
        },
      },
    },
    '/api/v1/rollouts/{id}/installations': {
      get: {
        tags: ['installations'],
        summary: 'Installing (non-final) or Installed (final, ended within 7 days) jobs of a rollout (V3)',
        parameters: [
          idParam('rollout'),
          { name: 'table', in: 'query', schema: { type: 'string', enum: ['installing', 'installed'], default: 'installing' } },
          { name: 'status', in: 'query', schema: { type: 'string', enum: [...ALL_STATUSES] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
          { name: 'cursor', in: 'query', description: '`nextCursor` of the previous page', schema: { type: 'string' } },
        ],
        responses: {
          '200': json('InstallationPage', 'A page of jobs in planned order'),
          '400': error('Invalid query'),
          '404': error('Unknown rollout'),
          ...adminErrors,
        },
      },
    },
    '/api/v1/installations/{id}/log': {
      get: {
        tags: ['installations'],
        summary: 'A job and its log: every status change, fallback, retry and error (V4)',
        parameters: [idParam('installation')],
        responses: {
          '200': json('InstallationLog', 'The job and its log'),
          '404': error('Unknown installation'),
          ...adminErrors,
        },
      },
    },
    '/health': {
      get: {
        tags: ['operations'],
        summary: 'Temporal and PostgreSQL reachability (503 when one is down)',
        security: [],
        responses: { '200': { description: 'Both reachable' }, '503': { description: 'One is down' } },
      },
    },
  };
}

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

export function buildOpenApiDocument(opts: { serverUrl?: string; extraPaths?: Json; extraSchemas?: Json } = {}): Json {
  const generated = z.toJSONSchema(apiSchemas, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Json };
  return {
    openapi: '3.0.3',
    info: {
      title: 'DeviceRollout API',
      version: '1',
      description:
        'Installs client software on fleets of managed devices, paced by a daily quota inside weekday and time-of-day windows. Admin routes take `Authorization: Bearer <admin key>`. Errors: `{ "error": { "code", "message", "field"? } }`.',
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    security: [{ adminKey: [] }],
    paths: { ...paths(), ...opts.extraPaths },
    components: {
      securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'Admin API key' } },
      schemas: { ...(clean(generated.schemas) as Json), ...opts.extraSchemas },
    },
  };
}

/** A static page that renders /openapi.json in the browser (inline script, no external resources). */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeviceRollout API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;color:#222}
h1{margin-bottom:.2rem} .op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.patch{color:#c80}.delete{color:#c33}
code,pre{background:#f5f5f5;border-radius:4px} pre{padding:.6rem;overflow:auto;font-size:.85rem}
summary{cursor:pointer} table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
</style></head>
<body><h1>DeviceRollout API</h1><p id="desc"></p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<div id="ops">Loading…</div><h2>Schemas</h2><div id="schemas"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const refName = (r) => r && r.$ref ? r.$ref.split('/').pop() : null;
const schemaLink = (s) => { const n = refName(s); return n ? '<a href="#schema-' + esc(n) + '">' + esc(n) + '</a>' : '<code>' + esc(JSON.stringify(s)) + '</code>'; };
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('desc').textContent = doc.info.description || '';
  let html = '';
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      html += '<div class="op"><details><summary><span class="m ' + method + '">' + method + '</span> <code>' + esc(path) + '</code> — ' + esc(op.summary || '') + '</summary>';
      if (op.description) html += '<p>' + esc(op.description) + '</p>';
      if (op.parameters && op.parameters.length) {
        html += '<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>';
        for (const p of op.parameters) html += '<tr><td>' + esc(p.name) + '</td><td>' + esc(p.in) + '</td><td><code>' + esc(JSON.stringify(p.schema)) + '</code></td></tr>';
        html += '</table>';
      }
      if (op.requestBody) html += '<p>Body: ' + schemaLink(op.requestBody.content['application/json'].schema) + '</p>';
      html += '<table><tr><th>status</th><th>meaning</th><th>body</th></tr>';
      for (const [code, r] of Object.entries(op.responses || {})) {
        const s = r.content && r.content['application/json'] ? schemaLink(r.content['application/json'].schema) : '';
        html += '<tr><td>' + esc(code) + '</td><td>' + esc(r.description || '') + '</td><td>' + s + '</td></tr>';
      }
      html += '</table></details></div>';
    }
  }
  document.getElementById('ops').innerHTML = html;
  let sh = '';
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    sh += '<details id="schema-' + esc(name) + '"><summary><b>' + esc(name) + '</b> ' + esc(s.description || '') + '</summary><pre>' + esc(JSON.stringify(s, null, 2)) + '</pre></details>';
  }
  document.getElementById('schemas').innerHTML = sh;
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>
`;

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
