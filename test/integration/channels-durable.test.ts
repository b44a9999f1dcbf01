import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushChannel } from '../../domain/ports';
import { createDurableMailer, createDurablePushChannel } from '../../infra/channels/durable';
import { createDb, type Db } from '../../infra/db';
import { createTestDatabase } from '../helpers/stack';

describe('durable idempotency of gateway sends (messages table)', () => {
  let db: Db;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    db = createDb(database.url);
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  function countingGateway(failFirst = 0) {
    const sent: string[] = [];
    let failures = failFirst;
    const gateway: PushChannel = {
      async sendSms(m) {
        if (failures-- > 0) throw new Error('gateway down');
        sent.push(m.idempotencyKey);
        return { transport: 'fake', providerId: `p-${sent.length}` };
      },
      async sendWapPush(m) {
        sent.push(m.idempotencyKey);
        return { transport: 'fake' };
      },
      async sendBinaryPush(m) {
        sent.push(m.idempotencyKey);
        return { transport: 'fake' };
      },
    };
    return { gateway, sent };
  }

  it('a retry after the gateway accepted sends nothing more', async () => {
    const { gateway, sent } = countingGateway();
    const channel = createDurablePushChannel(db, gateway, 'kannel');
    const msg = { idempotencyKey: 'job-1:push:1', to: '+4915100000001', text: 'Install: http://x/d/abc' };
    const first = await channel.sendSms(msg);
    const retry = await channel.sendSms(msg);
    expect(sent).toEqual(['job-1:push:1']);
    expect(first.duplicate).toBeUndefined();
    expect(retry).toMatchObject({ duplicate: true, providerId: 'p-1', transport: 'kannel' });
    const rows = await db('messages').where({ idempotency_key: 'job-1:push:1' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ state: 'sent', channel: 'sms', transport: 'kannel', provider_id: 'p-1' });
  });

  it('a failed send is recorded as failed, rethrown (the activity retries) and sent once it comes back', async () => {
    const { gateway, sent } = countingGateway(2);
    const channel = createDurablePushChannel(db, gateway, 'kannel');
    const msg = { idempotencyKey: 'job-2:push:1', to: '+4915100000002', text: 'link' };
    await expect(channel.sendSms(msg)).rejects.toThrow('gateway down');
    expect((await db('messages').where({ idempotency_key: msg.idempotencyKey }).first()).state).toBe('failed');
    await expect(channel.sendSms(msg)).rejects.toThrow('gateway down');
    await channel.sendSms(msg);
    await channel.sendSms(msg);
    expect(sent).toEqual(['job-2:push:1']);
    expect((await db('messages').where({ idempotency_key: msg.idempotencyKey }).first()).state).toBe('sent');
  });

  it('mail: one email per key', async () => {
    const mails: string[] = [];
    const mailer = createDurableMailer(db, {
      async send(m) {
        mails.push(m.subject);
        return { messageId: '<m1@x>' };
      },
    });
    const m = { idempotencyKey: 'rollout-1:summary', to: ['ops@example.com'], subject: 'Rollout completed', text: 'done' };
    await mailer.send(m);
    expect(await mailer.send(m)).toMatchObject({ duplicate: true });
    expect(mails).toEqual(['Rollout completed']);
  });
});
