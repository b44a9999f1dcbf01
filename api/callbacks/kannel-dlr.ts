import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { parseKannelDlr } from '../../infra/channels/kannel';
import type { ApiContext } from '../context';
import { ApiError } from '../http/errors';

const ORDER: Record<string, number> = { pending: 0, failed: 1, sent: 2, delivered: 3 };

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

/**
 * `GET /callbacks/kannel/dlr` — Kannel's delivery reports (the `dlr-url` the Kannel channel puts on
 * every message: key, kind, status=%d, reply=%A, to=%p, at=%T, plus `token` when KANNEL_DLR_TOKEN is
 * set). Records the state on the message and an entry in the job's log. Duplicate reports are
 * harmless (one log entry per key and report type).
 */
export function deliveryReportRoutes({ db, config }: ApiContext): Router {
  const r = Router();
  r.get('/callbacks/kannel/dlr', async (req, res) => {
    if (config.dlrToken && !sameToken(req.query.token, config.dlrToken)) {
      throw new ApiError(401, 'unauthorized', 'invalid delivery report token');
    }
    const dlr = parseKannelDlr(req.query as Record<string, string>);
    if (!dlr) throw new ApiError(400, 'invalid_request', 'not a delivery report: key and status are required');
    const msg = await db('messages')
      .where({ idempotency_key: dlr.idempotencyKey })
      .first('id', 'state', 'installation_id', 'channel');
    if (!msg) throw new ApiError(404, 'not_found', 'unknown message');
    const next =
      dlr.state === 'delivered' ? 'delivered' : dlr.state === 'failed' || dlr.state === 'smsc-rejected' ? 'failed' : undefined;
    if (next && (ORDER[next] ?? 0) > (ORDER[msg.state] ?? 0)) await db('messages').where({ id: msg.id }).update({ state: next });
    if (msg.installation_id) {
      await db('installation_log')
        .insert({
          installation_id: msg.installation_id,
          event: 'push',
          message: `delivery report (${msg.channel}): ${dlr.state}${dlr.reply ? ` — ${dlr.reply}` : ''}`,
          entry_key: `dlr:${dlr.idempotencyKey}:${dlr.type}`,
          ...(dlr.at ? { at: dlr.at } : {}),
        })
        .onConflict(['installation_id', 'entry_key'])
        .ignore();
    }
    res.json({ ok: true, state: dlr.state });
  });
  return r;
}
