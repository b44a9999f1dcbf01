import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { parseKannelDlr } from '../../infra/channels/kannel';
import { recordDeliveryReport } from '../../services/delivery-reports';
import type { ApiContext } from '../context';
import { ApiError } from '../http/errors';

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

/**
 * `GET /callbacks/kannel/dlr` — Kannel's delivery reports (the `dlr-url` the Kannel channel puts on
 * every message: key, kind, status=%d, reply=%A, to=%p, at=%T, plus `token` when KANNEL_DLR_TOKEN is
 * set), recorded by services/delivery-reports.ts; duplicate reports are harmless. An unknown message is a 404.
 */
export function deliveryReportRoutes({ db, config }: ApiContext): Router {
  const r = Router();
  r.get('/callbacks/kannel/dlr', async (req, res) => {
    if (config.dlrToken && !sameToken(req.query.token, config.dlrToken)) {
      throw new ApiError(401, 'unauthorized', 'invalid delivery report token');
    }
    const dlr = parseKannelDlr(req.query as Record<string, string>);
    if (!dlr) throw new ApiError(400, 'invalid_request', 'not a delivery report: key and status are required');
    await recordDeliveryReport(db, dlr);
    res.json({ ok: true, state: dlr.state });
  });
  return r;
}
