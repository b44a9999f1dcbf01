import { Router } from 'express';
import { isUuid } from '../../domain/uuid';
import type { ApiContext } from '../context';
import { badRequest } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, queryValue } from '../http/validation';

const CHANNELS = ['sms', 'wap', 'binary', 'mail'];

/**
 * `GET /api/v1/messages?to=&channel=&installationId=&limit=&cursor=` (admin): the messages sent —
 * or, with the default `recording` transport, only recorded — newest first. With no SMS gateway a
 * newcomer reads the SMS / WAP push text here and clicks its link; the fleet simulator reads its
 * pushes here too. Binary pushes (DM trigger, CP bootstrap) come base64-encoded in `payload`.
 */
export function messagesRoutes({ db }: ApiContext): Router {
  const r = Router();
  r.get('/messages', async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const limit = pageLimit(q, 50, 1000);
    const to = queryValue(q, 'to');
    const channel = queryValue(q, 'channel');
    const installationId = queryValue(q, 'installationId');
    if (channel && !CHANNELS.includes(channel)) throw badRequest(`channel: must be one of ${CHANNELS.join(', ')}`, 'channel');
    if (installationId && !isUuid(installationId)) throw badRequest('installationId: not an installation id', 'installationId');
    const cursor = decodeCursor(q, 1);
    const rows = await db('messages')
      .modify((b) => {
        if (to) b.where({ recipient: to });
        if (channel) b.where({ channel });
        if (installationId) b.where({ installation_id: installationId });
        if (cursor) b.where('id', '<', Number(cursor[0]));
      })
      .orderBy('id', 'desc')
      .limit(limit + 1)
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
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      messages: page.map((m: Record<string, any>) => ({
        id: String(m.id),
        channel: m.channel,
        transport: m.transport,
        to: m.recipient,
        contentType: m.content_type,
        body: m.body,
        payload: m.payload ? Buffer.from(m.payload).toString('base64') : null,
        state: m.state,
        installationId: m.installation_id,
        idempotencyKey: m.idempotency_key,
        createdAt: m.created_at,
        sentAt: m.sent_at,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor([Number(last.id)]) : null,
    });
  });
  return r;
}
