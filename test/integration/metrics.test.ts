import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { insertDevices, insertInstallations, insertRollout, insertSoftware } from '../helpers/fixtures';
import { type Stack, startStack } from '../helpers/stack';

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
