/**
 * Rate limits of the device endpoints (api/rate-limit.ts, DEVICE_RATE_LIMIT) on the real stack, with
 * a limit of 4 per hour (one token back every 15 minutes: nothing refills during the test):
 *  - per device token on /api/v1/device/*, per ticket on /d/*: the 5th request is a 429 JSON error
 *    with Retry-After; other devices and tickets are not affected;
 *  - per client address for requests without a credential or with a failed one (401, unknown ticket):
 *    once spent, that address is refused even with a valid token; other addresses are not
 *    (addresses given by X-Forwarded-For, trusted from loopback);
 *  - admin routes are not limited.
 * Plus a property: for any interleaving of requests of several devices, each device gets exactly
 * min(requests, 4) answers that are not 429, and every 429 is well-formed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { expectJsonError, FC, raw } from '../helpers/api-properties';
import { type Stack, startStack } from '../helpers/stack';

const LIMIT = 4;
let stack: Stack;
let fileId: string;
let softwareId: string;
let addr = 0;
/** A fresh client address per use (documentation range 198.18.0.0/15). */
const nextAddress = () => `198.18.${Math.floor(++addr / 250)}.${(addr % 250) + 1}`;

beforeAll(async () => {
  stack = await startStack({ noWorker: true, env: { DEVICE_RATE_LIMIT: `${LIMIT}/h`, LOG_LEVEL: 'fatal' } });
  const form = new FormData();
  form.append('name', 'Limited Client');
  form.append('version', '1.0');
  form.append('kind', 'other');
  form.append('platforms', 'android');
  form.append('file', new Blob([randomBytes(100)]), 'app.apk');
  const sw = await raw(stack.baseUrl, 'POST', '/api/v1/software', {
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(sw.status).toBe(201);
  softwareId = sw.json.id;
  fileId = sw.json.files[0].id;
});
afterAll(async () => {
  await stack?.stop();
});

async function devices(n: number): Promise<{ id: string; token: string }[]> {
  const res = await stack.api('POST', '/api/v1/devices', {
    devices: Array.from({ length: n }, () => ({ externalId: `rl-${randomUUID()}`, platform: 'android' })),
  });
  expect(res.status).toBe(201);
  return res.body.devices;
}

async function ticketFor(deviceId: string): Promise<string> {
  const [rollout] = await stack
    .db('rollouts')
    .insert({ software_id: softwareId, options: {}, schedule: {}, state: 'running' })
    .returning('id');
  const [job] = await stack
    .db('installations')
    .insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0, status: STATUS.waitingForDownload, method: 'mark' })
    .returning('id');
  const ticket = randomBytes(32).toString('base64url');
  await stack.db('push_tickets').insert({
    ticket,
    installation_id: job.id,
    file_id: fileId,
    attempt: 1,
    expires_at: stack.db.raw("now() + interval '1 hour'"),
  });
  return ticket;
}

const sync = (token: string, from: string) =>
  raw(stack.baseUrl, 'POST', '/api/v1/device/sync', {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-forwarded-for': from },
    body: '{"installed":{}}',
  });

function expectLimited(res: Awaited<ReturnType<typeof raw>>, what: string, message: RegExp) {
  const err = expectJsonError(res, what, { status: 429, code: 'rate_limited' });
  expect(err.message, what).toMatch(message);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter), what).toBe(true);
  // 4 per hour: the next token comes within 15 minutes
  expect(retryAfter, what).toBeGreaterThanOrEqual(1);
  expect(retryAfter, what).toBeLessThanOrEqual(900);
}

describe('device endpoint rate limits', () => {
  it('per device token: the 5th request is a 429 with Retry-After; another device is not affected', async () => {
    const [a, b] = await devices(2);
    const from = nextAddress();
    for (let i = 0; i < LIMIT; i++) expect((await sync(a!.token, from)).status).toBe(200);
    expectLimited(await sync(a!.token, from), '5th sync', /device/);
    // the limit follows the token, not the address
    expectLimited(await sync(a!.token, nextAddress()), '6th sync from elsewhere', /device/);
    const report = await raw(stack.baseUrl, 'POST', '/api/v1/device/reports', {
      headers: { authorization: `Bearer ${a!.token}`, 'content-type': 'application/json', 'x-forwarded-for': from },
      body: '{}',
    });
    expectLimited(report, 'report of the same device', /device/);
    expect((await sync(b!.token, from)).status).toBe(200);
  });

  it('per ticket: the 5th fetch of a link is a 429; another link is not affected', async () => {
    const [a, b] = await devices(2);
    const [t1, t2] = [await ticketFor(a!.id), await ticketFor(b!.id)];
    const from = nextAddress();
    const get = (t: string, range?: string) =>
      raw(stack.baseUrl, 'GET', `/d/${t}`, { headers: { 'x-forwarded-for': from, ...(range ? { range } : {}) } });
    expect((await get(t1)).status).toBe(200);
    expect((await get(t1, 'bytes=0-9')).status).toBe(206);
    expect((await get(t1, 'bytes=10-')).status).toBe(206);
    expect((await get(t1)).status).toBe(200);
    expectLimited(await get(t1, 'bytes=0-0'), '5th fetch', /download link/);
    expect((await get(t2)).status).toBe(200);
  });

  it('per address: failed authentications spend the address; then even a valid token is refused from there', async () => {
    const [a] = await devices(1);
    const from = nextAddress();
    const bad = (path: string, auth?: string) =>
      raw(stack.baseUrl, 'POST', `/api/v1/device${path}`, {
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...(auth ? { authorization: auth } : {}) },
        body: '{"installed":{}}',
      });
    // four failures: guessed tokens (each a new one), no token, an unknown ticket
    expect((await bad('/sync', `Bearer drd_${randomBytes(32).toString('base64url')}`)).status).toBe(401);
    expect((await bad('/reports', `Bearer drd_${randomBytes(32).toString('base64url')}`)).status).toBe(401);
    expect((await bad('/sync')).status).toBe(401);
    expect(
      (await raw(stack.baseUrl, 'GET', `/d/${randomBytes(32).toString('base64url')}`, { headers: { 'x-forwarded-for': from } }))
        .status,
    ).toBe(404);
    // spent: a fifth guess, and a valid device, are refused from this address…
    expectLimited(await bad('/sync', `Bearer drd_${randomBytes(32).toString('base64url')}`), 'guess', /address/);
    expectLimited(await sync(a!.token, from), 'valid token from a spent address', /address/);
    expectLimited(
      await raw(stack.baseUrl, 'GET', `/d/${randomBytes(32).toString('base64url')}`, { headers: { 'x-forwarded-for': from } }),
      'ticket guess',
      /address/,
    );
    // …but not from another address
    expect((await sync(a!.token, nextAddress())).status).toBe(200);
    // admin routes are not limited, whatever the address did
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await raw(stack.baseUrl, 'GET', '/api/v1/devices?limit=1', {
        headers: { authorization: `Bearer ${stack.adminKey}`, 'x-forwarded-for': from },
      });
      expect(res.status).toBe(200);
    }
  });

  it('property: any interleaving of several devices — each gets exactly min(n, limit) answers, the rest are 429', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 16 }), async (order) => {
        const fleet = await devices(3);
        const from = nextAddress();
        const answers = new Map<number, number[]>();
        for (const i of order) {
          const res = await sync(fleet[i]!.token, from);
          if (res.status === 429) expectLimited(res, `device ${i}`, /device/);
          answers.set(i, [...(answers.get(i) ?? []), res.status]);
        }
        for (const [i, statuses] of answers) {
          const n = statuses.length;
          expect(statuses, `device ${i}`).toEqual([
            ...Array(Math.min(n, LIMIT)).fill(200),
            ...Array(Math.max(0, n - LIMIT)).fill(429),
          ]);
        }
      }),
      FC(12),
    );
  });
});
