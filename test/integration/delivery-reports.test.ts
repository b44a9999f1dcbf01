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

  it('an unconfirmed message (its send went unanswered): accepted → sent, rejected → failed; never back from sent', async () => {
    const message = (key: string) => ({
      idempotency_key: key,
      channel: 'sms',
      transport: 'kannel',
      recipient: '+4915100000002',
      state: 'unconfirmed',
    });
    await stack.db('messages').insert([message('unconfirmed-1:push:1'), message('unconfirmed-2:push:1')]);
    const stateOf = async (key: string) => stack.db('messages').where({ idempotency_key: key }).first('state', 'sent_at');

    expect((await fetch(kannelCallback('unconfirmed-1:push:1', 8))).status).toBe(200);
    const accepted = await stateOf('unconfirmed-1:push:1');
    expect(accepted.state).toBe('sent');
    expect(accepted.sent_at).not.toBeNull();
    expect((await fetch(kannelCallback('unconfirmed-1:push:1', 16))).status).toBe(200);
    expect((await stateOf('unconfirmed-1:push:1')).state).toBe('sent');

    expect((await fetch(kannelCallback('unconfirmed-2:push:1', 16))).status).toBe(200);
    expect((await stateOf('unconfirmed-2:push:1')).state).toBe('failed');
  });

  it('refuses a wrong token (401), unknown keys (404) and malformed reports (400), as JSON', async () => {
    expect((await fetch(kannelCallback('x:push:1', 1, 'wrong'))).status).toBe(401);
    expect((await fetch(kannelCallback('no-such-message', 1))).status).toBe(404);
    const bad = await fetch(`${stack.baseUrl}/callbacks/kannel/dlr?token=dlr-secret&key=k`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });
});

describe('GET /api/v1/messages (what was sent or recorded)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ noWorker: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('lists newest first, filters by recipient and channel, pages by cursor, base64s binary payloads', async () => {
    await stack.db('messages').insert([
      { idempotency_key: 'm1', channel: 'sms', transport: 'recording', recipient: '+491', body: 'one', state: 'sent' },
      { idempotency_key: 'm2', channel: 'wap', transport: 'recording', recipient: '+491', body: 'two', state: 'sent' },
      {
        idempotency_key: 'm3',
        channel: 'binary',
        transport: 'recording',
        recipient: '+491',
        payload: Buffer.from([1, 2, 3]),
        state: 'sent',
      },
      { idempotency_key: 'm4', channel: 'sms', transport: 'recording', recipient: '+492', body: 'other', state: 'sent' },
    ]);
    const all = await stack.api('GET', '/api/v1/messages?to=%2B491&limit=2');
    expect(all.status).toBe(200);
    expect(all.body.messages.map((m: { idempotencyKey: string }) => m.idempotencyKey)).toEqual(['m3', 'm2']);
    expect(all.body.messages[0].payload).toBe(Buffer.from([1, 2, 3]).toString('base64'));
    const next = await stack.api('GET', `/api/v1/messages?to=%2B491&limit=2&cursor=${all.body.nextCursor}`);
    expect(next.body.messages.map((m: { idempotencyKey: string }) => m.idempotencyKey)).toEqual(['m1']);
    expect(next.body.nextCursor).toBeNull();
    const sms = await stack.api('GET', '/api/v1/messages?channel=sms');
    expect(sms.body.messages.map((m: { body: string }) => m.body)).toEqual(['other', 'one']);
    const bad = await stack.api('GET', '/api/v1/messages?channel=pigeon');
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('channel');
    expect((await stack.api('GET', '/api/v1/messages', undefined, null)).status).toBe(401);
  });

  it('afterId: only ids above it, newest first, combined with the recipient filter and cursor paging; 400 naming the field', async () => {
    const rows = await stack
      .db('messages')
      .insert(
        ['a1', 'a2', 'a3', 'a4', 'a5'].map((key, i) => ({
          idempotency_key: key,
          channel: i === 1 ? 'wap' : 'sms',
          transport: 'recording',
          recipient: i === 4 ? '+4970' : '+4971',
          body: key,
          state: 'sent',
        })),
      )
      .returning('id');
    const ids = rows.map((r: { id: string }) => Number(r.id));
    const keys = (res: { body: { messages: { idempotencyKey: string }[] } }) => res.body.messages.map((m) => m.idempotencyKey);

    const all = await stack.api('GET', `/api/v1/messages?afterId=${ids[1]}`);
    expect(all.status).toBe(200);
    expect(keys(all)).toEqual(['a5', 'a4', 'a3']);
    expect(all.body.nextCursor).toBeNull();
    expect(keys(await stack.api('GET', `/api/v1/messages?afterId=${ids[0]}&to=%2B4971&channel=sms`))).toEqual(['a4', 'a3']);
    expect(keys(await stack.api('GET', `/api/v1/messages?afterId=${ids[4]}`))).toEqual([]);

    const first = await stack.api('GET', `/api/v1/messages?afterId=${ids[0]}&to=%2B4971&limit=2`);
    expect(keys(first)).toEqual(['a4', 'a3']);
    expect(first.body.nextCursor).not.toBeNull();
    const second = await stack.api(
      'GET',
      `/api/v1/messages?afterId=${ids[0]}&to=%2B4971&limit=2&cursor=${first.body.nextCursor}`,
    );
    expect(keys(second)).toEqual(['a2']);
    expect(second.body.nextCursor).toBeNull();
    // 0 is a valid id bound: everything
    expect(keys(await stack.api('GET', '/api/v1/messages?afterId=0&to=%2B4970'))).toEqual(['a5']);

    for (const bad of ['abc', '-1', '1.5', '1e3', '%201', '99999999999999999999']) {
      const res = await stack.api('GET', `/api/v1/messages?afterId=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.field).toBe('afterId');
      expect(res.body.error.message).toMatch(/^afterId: /);
    }
    expect((await stack.api('GET', '/api/v1/messages?afterId=1&afterId=2')).body.error.field).toBe('afterId');
  });
});
