/**
 * The messages sent — or, with the default `recording` transport, only recorded — by the push and
 * mail channels (table `messages`), newest first: what `GET /api/v1/messages` and the fleet
 * simulator's SMS inbox read.
 */
import type { Db } from '../infra/db';

export interface MessageRow {
  id: string | number;
  idempotency_key: string;
  channel: string;
  transport: string;
  recipient: string;
  content_type: string | null;
  body: string | null;
  payload: Buffer | null;
  state: string;
  installation_id: string | null;
  created_at: Date;
  sent_at: Date | null;
}

/**
 * Up to `limit` messages, newest first, older than message `beforeId` if given (the cursor) and newer
 * than message `afterId` if given (a poller's window: only what it has not read yet).
 */
export async function listMessages(
  db: Db,
  q: { to?: string; channel?: string; installationId?: string; beforeId?: number; afterId?: number; limit: number },
): Promise<MessageRow[]> {
  return db('messages')
    .modify((b) => {
      if (q.to) b.where({ recipient: q.to });
      if (q.channel) b.where({ channel: q.channel });
      if (q.installationId) b.where({ installation_id: q.installationId });
      if (q.beforeId !== undefined) b.where('id', '<', q.beforeId);
      if (q.afterId !== undefined) b.where('id', '>', q.afterId);
    })
    .orderBy('id', 'desc')
    .limit(q.limit)
    .select(
      'id',
      'idempotency_key',
      'channel',
      'transport',
      'recipient',
      'content_type',
      'body',
      'payload',
      'state',
      'installation_id',
      'created_at',
      'sent_at',
    );
}

/** Messages per channel and state (/metrics). */
export async function messageCounts(db: Db): Promise<{ channel: string; state: string; n: number }[]> {
  const rows = await db('messages').groupBy('channel', 'state').select('channel', 'state').count({ n: '*' });
  return (rows as Array<Record<string, unknown>>).map((r) => ({
    channel: String(r.channel),
    state: String(r.state),
    n: Number(r.n),
  }));
}
