/**
 * Helpers of the bad-input property tests (test/integration/property-*.test.ts): raw HTTP requests
 * (any body, any header), the checks every answer must pass (never a 5xx, never a stack trace, every
 * 4xx a JSON error naming the problem), the admin routes enumerated from the express app, and
 * fast-check arbitraries of hostile values.
 */
import type express from 'express';
import fc from 'fast-check';
import { expect } from 'vitest';

/** fast-check settings: a fixed seed, so that every run tries the same inputs. */
export const FC = (numRuns: number) => ({ seed: 20261121, numRuns, endOnFailure: true }) as const;

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  json: any;
}

export async function raw(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Uint8Array | FormData } = {},
): Promise<RawResponse> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: opts.headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : (opts.body as any),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A JSON request with a bearer credential (null: none). */
export function jsonRequest(baseUrl: string, method: string, path: string, body: unknown, bearer: string | null) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  return raw(baseUrl, method, path, { headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

const STACK_TRACE = [
  /\n\s+at\s/,
  /\bat [\w.<>$]+ \(/,
  /node_modules/,
  /\/work\//,
  /\.[cm]?[tj]s:\d+(:\d+)?/,
  /\bTypeError\b|\bRangeError\b|\bReferenceError\b/,
];

/** Every answer: no 5xx, no stack trace or source path in the body. */
export function expectSane(res: RawResponse, what: string): void {
  expect(res.status, `${what}: ${res.status} ${res.text.slice(0, 500)}`).toBeLessThan(500);
  expect(res.status, what).toBeGreaterThanOrEqual(200);
  for (const re of STACK_TRACE) expect(res.text, `${what}: the body leaks internals (${re})`).not.toMatch(re);
}

/**
 * A 4xx: JSON `{ error: { code, message, field? } }`, code a snake_case word, message non-empty;
 * `field`, when given, must be the one the problem is about (a string or a RegExp for its path).
 */
export function expectJsonError(
  res: RawResponse,
  what: string,
  expected: { status?: number; code?: string; field?: string | RegExp } = {},
) {
  expectSane(res, what);
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  if (expected.status !== undefined) expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBe(expected.status);
  expect(res.headers.get('content-type') ?? '', what).toMatch(/^application\/json/);
  const err = res.json?.error;
  expect(err, `${what}: ${res.text.slice(0, 300)}`).toBeTypeOf('object');
  expect(err.code, what).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof err.message, what).toBe('string');
  expect(err.message.length, what).toBeGreaterThan(0);
  expect(err.message.length, `${what}: message too long`).toBeLessThanOrEqual(1000);
  if (err.field !== undefined) expect(typeof err.field, what).toBe('string');
  if (expected.code !== undefined) expect(err.code, `${what}: ${res.text.slice(0, 300)}`).toBe(expected.code);
  if (expected.field !== undefined) {
    expect(err.field, `${what}: ${res.text.slice(0, 300)}`).toBeTypeOf('string');
    if (typeof expected.field === 'string') expect(err.field, `${what}: ${res.text.slice(0, 300)}`).toBe(expected.field);
    else expect(err.field, `${what}: ${res.text.slice(0, 300)}`).toMatch(expected.field);
  }
  return err as { code: string; message: string; field?: string };
}

/** Either a success, or a well-formed JSON error. */
export function expectSuccessOrJsonError(res: RawResponse, what: string): void {
  expectSane(res, what);
  if (res.status >= 400) expectJsonError(res, what);
}

// ---------------------------------------------------------------------------------------------
// Routes of the express app

export interface RouteInfo {
  method: string;
  /** Express path with its parameters, e.g. /api/v1/devices/:id */
  path: string;
}

interface LayerLike {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[] };
  rawPath?: string | string[] | RegExp;
}

const join = (a: string, b: string) => `${a.replace(/\/+$/, '')}/${b.replace(/^\/+/, '')}`.replace(/\/+$/, '') || '/';

function walk(stack: LayerLike[], prefix: string, out: RouteInfo[]): void {
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const p of paths)
        for (const [m, on] of Object.entries(layer.route.methods))
          if (on && m !== '_all') out.push({ method: m.toUpperCase(), path: join(prefix, p) });
    } else if (layer.handle?.stack) {
      const raws = Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
      for (const r of raws) {
        if (typeof r !== 'string') throw new Error('a router mounted on a RegExp path: cannot enumerate its routes');
        walk(layer.handle.stack, join(prefix, r), out);
      }
    }
  }
}

/** Every route of the admin router: the router mounted on exactly `/api/v1` (device routes have their own). */
export function adminRoutes(app: express.Express): RouteInfo[] {
  const stack = (app as unknown as { router: { stack: LayerLike[] } }).router.stack;
  const mounts = stack.filter((l) => l.handle?.stack && l.rawPath === '/api/v1');
  if (mounts.length !== 1) throw new Error(`expected one router on /api/v1, found ${mounts.length}`);
  const out: RouteInfo[] = [];
  walk(mounts[0]!.handle!.stack!, '/api/v1', out);
  return out;
}

/** The path with each `:param` replaced by `value(name)`. */
export function fillParams(path: string, value: (name: string) => string): string {
  return path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(value(name)));
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Values of every JSON type, including big, deep, odd ones. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -0,
    -1,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER,
    2 ** 63,
    0.5,
    '',
    ' ',
    '\u0000',
    '\u202e',
    '💥'.repeat(50),
    'x'.repeat(100_000),
    '__proto__',
    'constructor',
    [],
    {},
    { __proto__: { admin: true } },
    JSON.parse('{"__proto__": {"polluted": 1}}'),
    { constructor: { prototype: { polluted: 1 } } },
    '9'.repeat(400),
    '2026-02-30T25:61:00Z',
    'NaN',
    'Infinity',
    '<script>alert(1)</script>',
    "'; DROP TABLE devices; --",
    '../../../../etc/passwd',
    '%00',
    Array.from({ length: 2_000 }, (_, i) => i),
    Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, `v${i}`])),
  ),
);

/** A wrong-typed value for a field that should be a string / boolean / object. */
export const notAString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
);
export const notABoolean = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 10 }),
  fc.array(fc.boolean(), { maxLength: 2 }),
  fc.constant({}),
);

/** Header-safe text (visible ASCII and spaces), for Authorization headers and the like. */
export const headerText = (maxLength = 200) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength }).map((s) => s.trim());

/**
 * Path segments: unreserved characters, percent escapes (valid and not), long runs. (No `.`, `..`
 * or `%2e%2e`: URL parsers resolve dot segments before a request is sent.)
 */
export const pathSegment = fc.oneof(
  fc
    .string({ unit: fc.constantFrom(...'abcdefABCDEF0123456789-_.~'.split('')), minLength: 1, maxLength: 80 })
    .filter((s) => s !== '.' && s !== '..'),
  fc.constantFrom('%00', '%FF', '%E0%A4%A', '...', '%2F', 'a%20b', 'x'.repeat(5_000), '00000000-0000-0000-0000-000000000000'),
  fc.uuid(),
);
