/** Devices and software registered through the admin API (issue 14's integration tests). */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Stack } from './stack';

export interface RegisteredDevice {
  id: string;
  externalId: string;
  token: string;
}

/** Registers devices (`msisdn: null` registers one without an MSISDN); external ids `<prefix>-<n>-<random>`. */
export async function registerDevices(
  stack: Stack,
  prefix: string,
  specs: { platform: string; msisdn?: string | null }[],
): Promise<RegisteredDevice[]> {
  const tag = randomUUID().slice(0, 8);
  const res = await stack.api('POST', '/api/v1/devices', {
    devices: specs.map((s, i) => ({
      externalId: `${prefix}-${i}-${tag}`,
      platform: s.platform,
      ...(s.msisdn === null ? {} : { msisdn: s.msisdn ?? `+49151${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}` }),
    })),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.devices;
}

/** Uploads software (multipart) with files of these names; returns its id. */
export async function uploadSoftware(stack: Stack, fields: Record<string, string>, files: string[]): Promise<string> {
  const form = new FormData();
  form.set('name', fields.name ?? `sw-${randomUUID()}`);
  form.set('version', fields.version ?? '1.0');
  for (const [k, v] of Object.entries(fields)) if (k !== 'name' && k !== 'version') form.set(k, v);
  for (const f of files) form.append('file', new Blob([Buffer.alloc(4096, 1)]), f);
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.id;
}

/** Every day, all day: a rollout with `perDay: 'unlimited'` starts everything at once. */
export const NOW_ALL_DAY = {
  perDay: 'unlimited',
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  window: { start: '00:00', end: '24:00' },
} as const;

/** A start date far ahead: nothing of the rollout runs. */
export const LATER = { perDay: 100, startDate: `${new Date().getUTCFullYear() + 2}-03-02` } as const;
