/**
 * Durable idempotency for a real gateway. Kannel's sendsms and SMTP have no idempotency of their
 * own, and a Temporal activity may be retried after the gateway accepted a message (worker crash,
 * lost answer, DB hiccup). Every send is recorded in `messages` by its idempotency key:
 *
 *   1. insert the row as `pending` (or find it);
 *   2. a row already `sent`/`delivered` → answer `duplicate: true`, send nothing;
 *   3. otherwise send through the gateway, then mark the row `sent` with the gateway's id.
 *
 * A gateway failure marks the row `failed` and rethrows, so the activity retries with backoff; the
 * retry finds a `failed` row and sends again. A request the gateway got but whose answer was lost
 * (error code `unanswered`: connection cut, timeout) may have been accepted: the row becomes
 * `unconfirmed`, and when the gateway sends delivery reports (`awaitReportMs` > 0) a retry within that
 * time after the attempt sends nothing and fails as `unanswered` again. The report settles it: an
 * accepted or delivered message's report marks the row `sent`/`delivered` (services/delivery-reports.ts),
 * and the next retry answers `duplicate: true`; a rejection marks it `failed`, and the next retry sends.
 * Without a report within `awaitReportMs` the message is sent again (a second message rather than
 * none). The remaining window for a second message is a crash between the gateway's acceptance and
 * step 3's update — milliseconds, versus a whole retry.
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
import { PushGatewayError } from './errors';

const UUID_PREFIX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=[:/]|$)/i;

type Channel = 'sms' | 'wap' | 'binary' | 'mail';

/** The states a send may move from; `sent` and `delivered` are never taken back. */
const OPEN_STATES = ['pending', 'failed', 'unconfirmed'];

interface Recorded {
  key: string;
  channel: Channel;
  recipient: string;
  contentType?: string;
  body?: string;
  payload?: Buffer;
}

export interface DurablePushOptions {
  /**
   * How long after an unanswered attempt a retry waits for the message's delivery report before it
   * sends again, in ms. 0 (the default): the gateway sends no reports, a retry sends at once.
   */
  awaitReportMs?: number;
}

function unanswered(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'unanswered';
}

async function once<T extends { providerId?: string; messageId?: string }>(
  db: Knex,
  transport: string,
  msg: Recorded,
  send: () => Promise<T>,
  awaitReportMs = 0,
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
  const row: { state: string; provider_id: string | null; waited_ms: number | null } | undefined = await db('messages')
    .where({ idempotency_key: msg.key })
    .first('state', 'provider_id', db.raw('extract(epoch from now() - sent_at) * 1000 as waited_ms'));
  if (row && (row.state === 'sent' || row.state === 'delivered')) {
    return { providerId: row.provider_id ?? undefined, messageId: row.provider_id ?? undefined, duplicate: true } as T & {
      duplicate: boolean;
    };
  }
  if (row?.state === 'unconfirmed' && awaitReportMs > 0 && Number(row.waited_ms ?? Number.POSITIVE_INFINITY) < awaitReportMs) {
    throw new PushGatewayError(
      `${transport}: the answer to the last attempt was lost and the message may have been accepted; ` +
        `not sending again before its delivery report or ${Math.round(awaitReportMs / 1000)} s after that attempt`,
      { code: 'unanswered', transport },
    );
  }
  let result: T;
  try {
    result = await send();
  } catch (err) {
    // an unanswered attempt's time is when it went out (`sent_at`): the wait for its report counts from it
    await db('messages')
      .where({ idempotency_key: msg.key })
      .whereIn('state', OPEN_STATES)
      .update(unanswered(err) ? { state: 'unconfirmed', sent_at: db.fn.now() } : { state: 'failed' });
    throw err;
  }
  // a delivery report may have come first: `delivered` stays
  await db('messages')
    .where({ idempotency_key: msg.key })
    .update({
      state: db.raw("case when state = 'delivered' then state else 'sent' end"),
      sent_at: db.fn.now(),
      provider_id: result.providerId ?? result.messageId ?? null,
    });
  return result;
}

/** Wraps a gateway PushChannel (Kannel, email-to-SMS) with the durable record described above. */
export function createDurablePushChannel(
  db: Knex,
  inner: PushChannel,
  transport: string,
  { awaitReportMs = 0 }: DurablePushOptions = {},
): PushChannel {
  return {
    sendSms: (m: SmsMessage): Promise<DeliveryReceipt> =>
      once(
        db,
        transport,
        { key: m.idempotencyKey, channel: 'sms', recipient: m.to, body: m.text },
        () => inner.sendSms(m),
        awaitReportMs,
      ).then((r) => ({ ...r, transport })),
    sendWapPush: (m: WapPushMessage): Promise<DeliveryReceipt> =>
      once(
        db,
        transport,
        { key: m.idempotencyKey, channel: 'wap', recipient: m.to, contentType: 'text/vnd.wap.si', body: `${m.text}\n${m.href}` },
        () => inner.sendWapPush(m),
        awaitReportMs,
      ).then((r) => ({ ...r, transport })),
    sendBinaryPush: (m: BinaryPushMessage): Promise<DeliveryReceipt> =>
      once(
        db,
        transport,
        { key: m.idempotencyKey, channel: 'binary', recipient: m.to, contentType: m.contentType, payload: m.body },
        () => inner.sendBinaryPush(m),
        awaitReportMs,
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
