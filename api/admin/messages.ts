import { Router } from 'express';
import { isUuid } from '../../domain/uuid';
import { listMessages } from '../../services/messages';
import type { ApiContext } from '../context';
import { badRequest } from '../http/errors';
import { decodeCursor, encodeCursor, pageLimit, queryValue } from '../http/validation';

const CHANNELS = ['sms', 'wap', 'binary', 'mail'];

/** A message id query parameter: digits only, at most 2^53 − 1 (ids are bigints; beyond that JS loses them). */
function messageId(q: Record<string, unknown>, name: string): number | undefined {
  const raw = queryValue(q, name);
  if (raw === undefined) return undefined;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw badRequest(`${name}: must be a non-negative integer (a message id)`, name);
  return n;
}

/**
 * `GET /api/v1/messages?to=&channel=&installationId=&afterId=&limit=&cursor=` (admin): the messages
 * sent — or, with the default `recording` transport, only recorded — newest first. With no SMS gateway
 * a newcomer reads the SMS / WAP push text here and clicks its link; the fleet simulator reads its
 * pushes here too, with `afterId` (only ids above it) so a poll returns its window, not a full page.
 * Binary pushes (DM trigger, CP bootstrap) come base64-encoded in `payload`.
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
    const afterId = messageId(q, 'afterId');
    const cursor = decodeCursor(q, 1);
    const rows = await listMessages(db, {
      to,
      channel,
      installationId,
      beforeId: cursor ? Number(cursor[0]) : undefined,
      afterId,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      messages: page.map((m) => ({
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
