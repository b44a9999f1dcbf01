/**
 * Durable idempotency for a real gateway. Kannel's sendsms and SMTP have no idempotency of their
 * own, and a Temporal activity may be retried after the gateway accepted a message (worker crash,
 * lost answer, DB hiccup). Every send is recorded in `messages` by its idempotency key:
 *
 *   1. insert the row as `pending` (or find it);
 *   2. a row already `sent`/`delivered` → answer `duplicate: true`, send nothing;
 *   3. otherwise send through the gateway, then mark the row `sent` with the gateway's id.
 *
 * A gateway failure marks the row `failed` (and rethrows, so the activity retries with backoff; the
 * retry finds a `failed` row and sends again). The only window for a second message is a crash
 * between the gateway's acceptance and step 3's update — milliseconds, versus a whole retry.
 */
import type { Knex } from 'knex';
import type {
  BinaryPushMessage,
  DeliveryReceipt,
  Mailer,
  MailMessage,
  PushChannel,
  SmsMessage,
  WapPushMessage,
} from '../../domain/ports';

const UUID_PREFIX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=[:/]|$)/i;

type Channel = 'sms' | 'wap' | 'binary' | 'mail';

interface Recorded {
  key: string;
  channel: Channel;
  recipient: string;
  contentType?: string;
  body?: string;
  payload?: Buffer;
}

async function once<T extends { providerId?: string; messageId?: string }>(
  db: Knex,
  transport: string,
  msg: Recorded,
  send: () => Promise<T>,
): Promise<T & { duplicate?: boolean }> {
  const uuid = UUID_PREFIX.exec(msg.key)?.[1];
  await db('messages')
    .insert({
      idempotency_key: msg.key,
      channel: msg.channel,
      transport,
      recipient: msg.recipient,
      content_type: msg.contentType ?? null,
      body: msg.body ?? null,
      payload: msg.payload ?? null,
      state: 'pending',
      installation_id: uuid ? db.raw('(select id from installations where id = ?::uuid)', [uuid]) : null,
    })
    .onConflict('idempotency_key')
    .ignore();
  const row = await db('messages').where({ idempotency_key: msg.key }).first('state', 'provider_id');
  if (row && (row.state === 'sent' || row.state === 'delivered')) {
    return { providerId: row.provider_id ?? undefined, messageId: row.provider_id ?? undefined, duplicate: true } as T & {
      duplicate: boolean;
    };
  }
  let result: T;
  try {
    result = await send();
  } catch (err) {
    await db('messages').where({ idempotency_key: msg.key }).update({ state: 'failed' });
    throw err;
  }
  await db('messages')
    .where({ idempotency_key: msg.key })
    .update({ state: 'sent', sent_at: db.fn.now(), provider_id: result.providerId ?? result.messageId ?? null });
  return result;
}

/** Wraps a gateway PushChannel (Kannel, email-to-SMS) with the durable record described above. */
export function createDurablePushChannel(db: Knex, inner: PushChannel, transport: string): PushChannel {
  return {
    sendSms: (m: SmsMessage): Promise<DeliveryReceipt> =>
      once(db, transport, { key: m.idempotencyKey, channel: 'sms', recipient: m.to, body: m.text }, () => inner.sendSms(m)).then(
        (r) => ({ ...r, transport }),
      ),
    sendWapPush: (m: WapPushMessage): Promise<DeliveryReceipt> =>
      once(
        db,
        transport,
        { key: m.idempotencyKey, channel: 'wap', recipient: m.to, contentType: 'text/vnd.wap.si', body: `${m.text}\n${m.href}` },
        () => inner.sendWapPush(m),
      ).then((r) => ({ ...r, transport })),
    sendBinaryPush: (m: BinaryPushMessage): Promise<DeliveryReceipt> =>
      once(
        db,
        transport,
        { key: m.idempotencyKey, channel: 'binary', recipient: m.to, contentType: m.contentType, payload: m.body },
        () => inner.sendBinaryPush(m),
      ).then((r) => ({ ...r, transport })),
  };
}

/** Wraps the admin Mailer: one email per idempotency key, recorded in `messages` (channel `mail`). */
export function createDurableMailer(db: Knex, inner: Mailer): Mailer {
  return {
    send: (m: MailMessage) =>
      once(db, 'smtp', { key: m.idempotencyKey, channel: 'mail', recipient: m.to.join(', '), body: m.subject }, () =>
        inner.send(m),
      ),
  };
}
