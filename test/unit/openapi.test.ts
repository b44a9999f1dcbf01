/**
 * The OpenAPI document (api/openapi.ts) against the app that serves it (api/app.ts built with inert
 * stand-ins for PostgreSQL and Temporal: routes are registered, and only the authentication in front
 * of them runs):
 *  - every route registered in the express app is documented, and every documented operation is
 *    served (walking the routers' stacks: a new route without documentation fails here);
 *  - the document is sound: every `$ref` resolves, every `{param}` of a path is a required path
 *    parameter and vice versa, operation ids are unique, tags declared, nothing OpenAPI 3.0 lacks;
 *  - each operation's security is what the middleware does: without credentials an admin or device
 *    route answers 401 and a public one does not; with the admin key an admin route gets past
 *    authentication and a device route does not; every 4xx these requests get is documented;
 *  - the /docs page renders every operation of the document.
 */
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { buildOpenApiDocument, DOCS_HTML } from '../../api/openapi';
import { loadConfig } from '../../infra/config';

type Json = Record<string, any>;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const ADMIN_KEY = 'test-admin-key';

/**
 * A stand-in for knex and the Temporal client: every property and call gives itself; awaiting it gives
 * undefined; a connection taken from it (prepared statements, infra/db.ts) answers no rows.
 */
function inert(): any {
  const connection = { query: async () => ({ rows: [] }) };
  const p: any = new Proxy(() => undefined, {
    get: (_t, prop) => {
      if (prop === 'then') return (resolve: (v: unknown) => void) => resolve(undefined);
      if (prop === 'acquireConnection') return async () => connection;
      return p;
    },
    apply: () => p,
  });
  return p;
}

function buildApp() {
  const config = {
    ...loadConfig({ DATA_DIR: '/nonexistent/device-rollout-openapi-test' }),
    adminApiKey: ADMIN_KEY,
    dlrToken: 'dlr-secret',
  };
  return createApp({ db: inert(), temporal: inert(), config, log: () => undefined });
}

interface Registered {
  method: string; // lower case; '_all' for router.all
  path: string; // OpenAPI syntax: /d/{ticket}
}

/** `/:ticket/manifest.plist` → `/{ticket}/manifest.plist`; the mount prefix joined, no trailing slash. */
function openApiPath(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (/[*?()]/.test(joined)) throw new Error(`route pattern ${joined} cannot be compared with the document`);
  return joined.replace(/:(\w+)/g, '{$1}');
}

/** Every route of an express 5 app: route layers, recursing into mounted routers (`layer.handle.stack`). */
function registeredRoutes(app: ReturnType<typeof createApp>): Registered[] {
  const out: Registered[] = [];
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const p of paths) {
          if (typeof p !== 'string') throw new Error(`route with a non-string path under ${prefix}`);
          for (const m of Object.keys(layer.route.methods)) out.push({ method: m, path: openApiPath(prefix, p) });
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        const mounts = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
        for (const mount of mounts) {
          if (typeof mount !== 'string') throw new Error(`router mounted on a non-string path under ${prefix}`);
          walk(layer.handle.stack, openApiPath(prefix, mount));
        }
      }
    }
  };
  walk((app as any).router.stack, '');
  return out;
}

function operations(doc: Json): { method: string; path: string; op: Json; item: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([m]) => HTTP_METHODS.includes(m))
      .map(([method, op]) => ({ method, path, op: op as Json, item: item as Json })),
  );
}

const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/** Documented, not served / served, not documented. */
function compare(doc: Json, routes: Registered[]): { undocumented: string[]; unserved: string[] } {
  const ops = operations(doc);
  const documented = new Set(ops.map((o) => key(o.method, o.path)));
  const served = new Set(routes.map((r) => key(r.method, r.path)));
  const undocumented = routes
    .filter((r) => (r.method === '_all' ? !ops.some((o) => o.path === r.path) : !documented.has(key(r.method, r.path))))
    .map((r) => key(r.method, r.path));
  const unserved = ops
    .filter(
      (o) =>
        !served.has(key(o.method, o.path)) &&
        !served.has(key('_all', o.path)) &&
        // express answers HEAD with a GET route
        !(o.method === 'head' && served.has(key('get', o.path))),
    )
    .map((o) => key(o.method, o.path));
  return { undocumented, unserved };
}

const doc = buildOpenApiDocument() as Json;

describe('the OpenAPI document covers every route of the app', () => {
  const routes = registeredRoutes(buildApp());

  it('finds the routes of every router (sanity of the walk)', () => {
    const keys = routes.map((r) => key(r.method, r.path));
    for (const k of [
      'POST /api/v1/rollouts',
      'GET /api/v1/devices/{id}',
      'POST /api/v1/device/sync',
      'GET /d/{ticket}/manifest.plist',
      'POST /dm',
      'GET /metrics',
      'GET /openapi.json',
    ]) {
      expect(keys).toContain(k);
    }
    expect(routes.length).toBeGreaterThanOrEqual(25);
  });

  it('documents every registered route and serves every documented operation', () => {
    expect(compare(doc, routes)).toEqual({ undocumented: [], unserved: [] });
  });

  it('notices a route missing from the document, and a documented operation nobody serves', () => {
    const { '/api/v1/devices/{id}': _gone, ...paths } = doc.paths as Json;
    expect(compare({ ...doc, paths }, routes).undocumented.sort()).toEqual([
      'DELETE /api/v1/devices/{id}',
      'GET /api/v1/devices/{id}',
      'PATCH /api/v1/devices/{id}',
    ]);
    const extra = { ...doc, paths: { ...doc.paths, '/api/v1/nothing': { get: { responses: {} } } } };
    expect(compare(extra, routes).unserved).toEqual(['GET /api/v1/nothing']);
  });
});

describe('the OpenAPI document is sound', () => {
  const ops = operations(doc);

  it('is OpenAPI 3.0 with the three security schemes', () => {
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminKey', 'deviceToken', 'kannelDlrToken']);
  });

  it('every $ref resolves to a component schema', () => {
    const refs: string[] = [];
    const collect = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') refs.push(String(x));
          else collect(x);
        }
      }
    };
    collect(doc);
    expect(refs.length).toBeGreaterThan(50);
    const unresolved = refs.filter((r) => {
      const m = /^#\/components\/schemas\/([^/]+)$/.exec(r);
      return !m || !(m[1]! in doc.components.schemas);
    });
    expect([...new Set(unresolved)]).toEqual([]);
  });

  it('has no JSON Schema keys OpenAPI 3.0 does not know', () => {
    const found = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (['$id', '$schema', '$defs', 'const', 'prefixItems', 'propertyNames', 'examples'].includes(k)) found.add(k);
          if (k === 'type' && (Array.isArray(x) || x === 'null')) found.add(`type: ${JSON.stringify(x)}`);
          walk(x);
        }
      }
    };
    walk(doc.components.schemas);
    for (const o of ops) walk(o.op);
    expect([...found]).toEqual([]);
  });

  it('every {param} of a path is a required path parameter, and every path parameter is in the path', () => {
    const problems: string[] = [];
    for (const { method, path, op, item } of ops) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
      const params: Json[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const declared = params.filter((p) => p.in === 'path');
      const names = declared.map((p) => p.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(inPath)) problems.push(`${key(method, path)}: path parameters ${names}`);
      for (const p of declared) if (p.required !== true) problems.push(`${key(method, path)}: ${p.name} not required`);
      const seen = new Set<string>();
      for (const p of params) {
        if (!['path', 'query', 'header', 'cookie'].includes(p.in)) problems.push(`${key(method, path)}: ${p.name} in ${p.in}`);
        if (seen.has(`${p.in}:${p.name}`)) problems.push(`${key(method, path)}: ${p.name} twice`);
        seen.add(`${p.in}:${p.name}`);
        if (!p.schema) problems.push(`${key(method, path)}: ${p.name} has no schema`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every operation has a unique operationId, a declared tag, a summary and a success response', () => {
    const tags = new Set((doc.tags as Json[]).map((t) => t.name));
    const ids = ops.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of ops) {
      const where = key(method, path);
      expect(op.tags?.length, where).toBe(1);
      expect(tags.has(op.tags[0]), where).toBe(true);
      expect(op.summary, where).toBeTruthy();
      const codes = Object.keys(op.responses);
      expect(
        codes.some((c) => /^2\d\d$/.test(c)),
        where,
      ).toBe(true);
      for (const c of codes) {
        expect(c, where).toMatch(/^[1-5]\d\d$/);
        expect(op.responses[c].description, `${where} ${c}`).toBeTruthy();
      }
      for (const req of op.security ?? []) {
        for (const scheme of Object.keys(req)) expect(doc.components.securitySchemes, where).toHaveProperty(scheme);
      }
    }
  });
});

describe('each operation documents the authentication the app performs', () => {
  let server: ReturnType<ReturnType<typeof createApp>['listen']>;
  let base: string;

  beforeAll(async () => {
    const app = buildApp();
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const sample = (path: string) =>
    path.replace('{id}', '00000000-0000-4000-8000-000000000000').replace('{ticket}', 'abcdefgh12345678');
  const schemesOf = (op: Json): Json[] => op.security ?? doc.security;

  it('without credentials: admin and device routes answer 401 (documented), public ones do not', async () => {
    const problems: string[] = [];
    for (const { method, path, op } of operations(doc)) {
      const res = await fetch(`${base}${sample(path)}`, { method: method.toUpperCase() });
      await res.arrayBuffer();
      const security = schemesOf(op);
      const requiresCredential = security.length > 0 && security.every((s) => Object.keys(s).length > 0);
      const where = `${key(method, path)} → ${res.status}`;
      if (requiresCredential && res.status !== 401) problems.push(`${where}: documented as needing credentials`);
      if (security.length === 0 && res.status === 401) problems.push(`${where}: documented as public`);
      if (res.status >= 400 && res.status < 500 && !op.responses[res.status]) problems.push(`${where}: not documented`);
    }
    expect(problems).toEqual([]);
  });

  it('with the admin key: admin routes get past authentication, device routes do not', async () => {
    const problems: string[] = [];
    for (const { method, path, op } of operations(doc)) {
      const res = await fetch(`${base}${sample(path)}`, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      await res.arrayBuffer();
      const schemes = schemesOf(op).flatMap((s) => Object.keys(s));
      const where = `${key(method, path)} → ${res.status}`;
      if (schemes.includes('adminKey') && res.status === 401) problems.push(`${where}: documented as taking the admin key`);
      if (schemes.includes('deviceToken') && res.status !== 401) problems.push(`${where}: documented as taking a device token`);
      if (res.status >= 400 && res.status < 500 && !op.responses[res.status]) problems.push(`${where}: not documented`);
    }
    expect(problems).toEqual([]);
  });
});

describe('/docs', () => {
  it('renders every operation of the document, whatever its media types', async () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(DOCS_HTML)?.[1];
    expect(script).toBeTruthy();
    const elements: Record<string, { innerHTML: string; textContent: string }> = {};
    const document = {
      getElementById: (id: string) => {
        elements[id] ??= { innerHTML: '', textContent: '' };
        return elements[id];
      },
    };
    const served = JSON.parse(JSON.stringify(doc));
    vm.runInNewContext(script!, { document, fetch: async () => ({ json: async () => served }) });
    for (let i = 0; i < 10 && !elements.schemas?.innerHTML; i++) await new Promise((r) => setTimeout(r, 0));
    expect(elements.ops?.textContent ?? '').not.toMatch(/Could not load/);
    const html = elements.ops?.innerHTML ?? '';
    for (const { method, path } of operations(doc)) {
      expect(html).toContain(`<span class="m ${method}">${method}</span> <code>${path}</code>`);
    }
    expect(html).toContain('multipart/form-data');
    expect(html).toContain('application/vnd.syncml.dm+xml');
    expect(elements.schemas?.innerHTML).toContain('id="schema-DeviceRegistration"');
  });
});
