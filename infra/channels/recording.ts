/**
 * The recording PushChannel: sends nothing, records every message in the `messages` table (one row per
 * idempotency key). It is the default transport (`PUSH_TRANSPORT=recording`), so `npm start` works
 * without an SMS gateway, and the test suites read what "was sent" from the table.
 *
 * Idempotency is durable: `messages.idempotency_key` is unique, so a retried activity (same key) gets
 * the first row's receipt with `duplicate: true` and never writes a second row, across processes.
 *
 * `installation_id` is filled when the key starts with the installation's UUID (the install
 * workflow's keys are `<installationId>:push:<attempt>` …) and that installation exists.
 */
import type { Knex } from 'knex';
import type { BinaryPushMessage, DeliveryReceipt, PushChannel, SmsMessage, WapPushMessage } from '../../domain/ports';

const RECORDING_TRANSPORT = 'recording';

const UUID_PREFIX = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=[:/]|$)/i;

export interface RecordedMessage {
  id: string;
  idempotencyKey: string;
  channel: 'sms' | 'wap' | 'binary';
  recipient: string;
  contentType: string | null;
  body: string | null;
  payload: Buffer | null;
  installationId: string | null;
}

interface Row {
  channel: 'sms' | 'wap' | 'binary';
  recipient: string;
  content_type: string | null;
  body: string | null;
  payload: Buffer | null;
}

export function createRecordingChannel(db: Knex): PushChannel {
  async function record(idempotencyKey: string, row: Row): Promise<DeliveryReceipt> {
    if (!idempotencyKey) throw new Error('idempotencyKey is required');
    const uuid = UUID_PREFIX.exec(idempotencyKey)?.[1];
    const inserted: { id: string | number }[] = await db('messages')
      .insert({
        idempotency_key: idempotencyKey,
        transport: RECORDING_TRANSPORT,
        state: 'sent',
        sent_at: db.fn.now(),
        installation_id: uuid ? db.raw('(select id from installations where id = ?::uuid)', [uuid]) : null,
        ...row,
      })
      .onConflict('idempotency_key')
      .ignore()
      .returning('id');
    const first = inserted[0];
    if (first) return { transport: RECORDING_TRANSPORT, providerId: String(first.id) };
    const existing = await db('messages').where({ idempotency_key: idempotencyKey }).first('id', 'transport');
    return {
      transport: existing?.transport ?? RECORDING_TRANSPORT,
      providerId: existing ? String(existing.id) : undefined,
      duplicate: true,
    };
  }

  return {
    sendSms(msg: SmsMessage) {
      return record(msg.idempotencyKey, {
        channel: 'sms',
        recipient: msg.to,
        content_type: 'text/plain',
        body: msg.text,
        payload: null,
      });
    },
    sendWapPush(msg: WapPushMessage) {
      const si = {
        href: msg.href,
        text: msg.text,
        siId: msg.siId ?? msg.href,
        ...(msg.created ? { created: msg.created.toISOString() } : {}),
        ...(msg.expires ? { expires: msg.expires.toISOString() } : {}),
      };
      return record(msg.idempotencyKey, {
        channel: 'wap',
        recipient: msg.to,
        content_type: 'text/vnd.wap.si',
        body: JSON.stringify(si),
        payload: null,
      });
    },
    sendBinaryPush(msg: BinaryPushMessage) {
      return record(msg.idempotencyKey, {
        channel: 'binary',
        recipient: msg.to,
        content_type: msg.contentType,
        body: msg.applicationId ?? null,
        payload: msg.body,
      });
    },
  };
}

/** What the recording channel recorded (tests, diagnostics), oldest first. */
export async function recordedMessages(
  db: Knex,
  filter: { installationId?: string; keyPrefix?: string } = {},
): Promise<RecordedMessage[]> {
  const q = db('messages').where({ transport: RECORDING_TRANSPORT }).orderBy('id');
  if (filter.installationId) q.andWhere({ installation_id: filter.installationId });
  if (filter.keyPrefix) q.andWhere('idempotency_key', 'like', `${filter.keyPrefix.replace(/[\\%_]/g, '\\$&')}%`);
  const rows = await q;
  return rows.map((r: any) => ({
    id: String(r.id),
    idempotencyKey: r.idempotency_key,
    channel: r.channel,
    recipient: r.recipient,
    contentType: r.content_type,
    body: r.body,
    payload: r.payload,
    installationId: r.installation_id,
  }));
}
