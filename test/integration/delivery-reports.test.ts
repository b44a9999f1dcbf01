import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDlrUrl } from '../../infra/channels/kannel';
import { insertDevices, insertInstallations, insertRollout, insertSoftware } from '../helpers/fixtures';
import { type Stack, startStack } from '../helpers/stack';

describe('Kannel delivery reports (DLR URL) on the job log', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ noWorker: true, env: { KANNEL_DLR_TOKEN: 'dlr-secret' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** What Kannel requests: the channel's DLR URL with its %-placeholders filled in. */
  function kannelCallback(key: string, type: number, token = 'dlr-secret'): string {
    const template = buildDlrUrl(`${stack.baseUrl}/callbacks/kannel/dlr?token=${token}`, key, 'sms');
    return template
      .replace('%d', String(type))
      .replace('%A', encodeURIComponent('id:1 stat:DELIVRD'))
      .replace('%p', encodeURIComponent('+4915100000001'))
      .replace('%T', '1790000000')
      .replace(/%%/g, '%');
  }

  it('records delivered on the message and once in the job log, however often Kannel repeats it', async () => {
    const software = await insertSoftware(stack.db);
    const rollout = await insertRollout(stack.db, software);
    const [installation] = await insertInstallations(stack.db, rollout, await insertDevices(stack.db, 1));
    const key = `${installation}:push:1`;
    await stack.db('messages').insert({
      idempotency_key: key,
      channel: 'sms',
      transport: 'kannel',
      recipient: '+4915100000001',
      state: 'sent',
      installation_id: installation,
    });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(kannelCallback(key, 1));
      expect(res.status).toBe(200);
    }
    expect((await stack.db('messages').where({ idempotency_key: key }).first()).state).toBe('delivered');
    const log = await stack.db('installation_log').where({ installation_id: installation });
    expect(log).toHaveLength(1);
    expect(log[0].message).toContain('delivered');
    expect(log[0].at.toISOString()).toBe(new Date(1790000000 * 1000).toISOString());
  });

  it('refuses a wrong token (401), unknown keys (404) and malformed reports (400), as JSON', async () => {
    expect((await fetch(kannelCallback('x:push:1', 1, 'wrong'))).status).toBe(401);
    expect((await fetch(kannelCallback('no-such-message', 1))).status).toBe(404);
    const bad = await fetch(`${stack.baseUrl}/callbacks/kannel/dlr?token=dlr-secret&key=k`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });
});
