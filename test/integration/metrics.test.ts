import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { insertDevices, insertInstallations, insertRollout, insertSoftware } from '../helpers/fixtures';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

/** Reads one sample of a Prometheus text exposition (labels given in exposition order). */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : undefined;
}

describe('GET /metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ noWorker: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('counts HTTP requests per route pattern (never per raw path) and jobs per status from the database', async () => {
    const softwareId = await insertSoftware(stack.db);
    const rolloutId = await insertRollout(stack.db, softwareId, { state: 'running' });
    const devices = await insertDevices(stack.db, 5);
    await insertInstallations(stack.db, rolloutId, devices, (i) =>
      i < 3 ? { status: STATUS.waitingForDownload } : { status: STATUS.downloadedVerified, final: true, ended_at: new Date() },
    );
    await stack.db('messages').insert([
      { idempotency_key: 'a', channel: 'sms', transport: 'recording', recipient: '+1', state: 'sent' },
      { idempotency_key: 'b', channel: 'sms', transport: 'recording', recipient: '+1', state: 'failed' },
    ]);
    for (let i = 0; i < 3; i++) expect((await stack.api('GET', '/health', undefined, null)).status).toBe(200);

    const res = await fetch(`${stack.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(sample(text, 'devicerollout_http_requests_total', 'method="GET",route="/health",status="200"')).toBeGreaterThanOrEqual(
      3,
    );
    expect(text).toMatch(/devicerollout_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/health"\}/);
    expect(sample(text, 'devicerollout_jobs', `status="${STATUS.waitingForDownload}"`)).toBe(3);
    expect(sample(text, 'devicerollout_jobs', `status="${STATUS.downloadedVerified}"`)).toBe(2);
    expect(sample(text, 'devicerollout_pushes', 'channel="sms",state="sent"')).toBe(1);
    expect(sample(text, 'devicerollout_pushes', 'channel="sms",state="failed"')).toBe(1);
    expect(sample(text, 'devicerollout_rollout_jobs', `rollout_id="${rolloutId}",phase="total"`)).toBe(5);
    expect(sample(text, 'devicerollout_rollout_jobs', `rollout_id="${rolloutId}",phase="final"`)).toBe(2);
  });
});

describe('GET /metrics after a small rollout', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('shows the rollout’s jobs per status, its progress and the HTTP traffic that drove it', async () => {
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 3 }, (_, i) => ({ externalId: `metrics-${i}`, platform: 'android' })),
    });
    expect(reg.status).toBe(201);
    const form = new FormData();
    for (const [k, v] of Object.entries({ name: 'Field App', version: '3.0', kind: 'other', platforms: 'android' }))
      form.append(k, v);
    form.append('file', new Blob([Buffer.from('apk')]), 'field-app.apk');
    const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    const softwareId = ((await up.json()) as { id: string }).id;
    const rollout = await stack.api('POST', '/api/v1/rollouts', {
      softwareId,
      devices: { ids: reg.body.devices.map((d: { id: string }) => d.id) },
      options: { useDm: false, push: 'mark' },
      schedule: {
        perDay: 'unlimited',
        timeZone: 'UTC',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
      },
    });
    expect(rollout.status).toBe(201);
    const text = await until('three jobs waiting for download in /metrics', async () => {
      const t = await (await fetch(`${stack.baseUrl}/metrics`)).text();
      return sample(t, 'devicerollout_jobs', `status="${STATUS.waitingForDownload}"`) === 3 ? t : undefined;
    });
    expect(sample(text, 'devicerollout_http_requests_total', 'method="POST",route="/api/v1/rollouts",status="201"')).toBe(1);
    expect(sample(text, 'devicerollout_http_requests_total', 'method="POST",route="/api/v1/devices",status="201"')).toBe(1);
    expect(sample(text, 'devicerollout_rollout_jobs', `rollout_id="${rollout.body.id}",phase="total"`)).toBe(3);
    expect(sample(text, 'devicerollout_rollout_jobs', `rollout_id="${rollout.body.id}",phase="started"`)).toBe(3);
    expect(sample(text, 'devicerollout_rollouts', 'state="running"')).toBeGreaterThanOrEqual(1);
  });
});
