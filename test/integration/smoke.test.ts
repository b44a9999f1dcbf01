import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../helpers/stack';

describe('the chain through every real part (dev server + PostgreSQL + HTTP)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('GET /health reports Temporal and Postgres up', async () => {
    const res = await stack.api('GET', '/health', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', temporal: { ok: true }, postgres: { ok: true } });
  });

  it('HTTP → API → workflow on the server → activity writes Postgres → API reads it back', async () => {
    const res = await stack.api('POST', '/api/v1/diagnostics/round-trip');
    expect(res.status).toBe(200);
    expect(res.body.note).toBe('round trip');
    const row = await stack.db('diagnostics').where({ workflow_id: res.body.workflowId }).first();
    expect(row).toBeDefined();
    expect(String(row.id)).toBe(res.body.id);
    const desc = await stack.client.workflow.getHandle(res.body.workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(desc.taskQueue).toBe(stack.config.taskQueue);
  });

  it('admin routes need a valid key: 401 without, 401 for a wrong one', async () => {
    expect((await stack.api('POST', '/api/v1/diagnostics/round-trip', undefined, null)).status).toBe(401);
    const wrong = await stack.api('POST', '/api/v1/diagnostics/round-trip', undefined, 'dra_wrong');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
  });

  it('unknown routes answer JSON 404, malformed JSON answers 400', async () => {
    const res = await stack.api('GET', '/nope', undefined, null);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    const bad = await fetch(`${stack.baseUrl}/api/v1/diagnostics/round-trip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('malformed_json');
  });
});

describe('health when a part is down', () => {
  it('answers 503 naming the part that is unreachable', async () => {
    const stack = await startStack({ noWorker: true });
    try {
      await stack.db.destroy(); // the pool is gone: Postgres is unreachable for this API
      const res = await stack.api('GET', '/health', undefined, null);
      expect(res.status).toBe(503);
      expect(res.body.temporal.ok).toBe(true);
      expect(res.body.postgres.ok).toBe(false);
    } finally {
      await stack.stop().catch(() => undefined);
    }
  });
});
