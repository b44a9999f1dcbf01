import { Router } from 'express';
import { roundTrip } from '../../services/diagnostics';
import type { ApiContext } from '../context';

/**
 * `POST /api/v1/diagnostics/round-trip` (admin): proves the whole chain — a workflow on the server,
 * an activity on a worker writing to Postgres — and reads the row back. Answers 504 when no worker
 * picks the task up in time.
 */
export function diagnosticsRoutes({ db, temporal, config }: ApiContext): Router {
  const r = Router();
  r.post('/diagnostics/round-trip', async (_req, res) => {
    const result = await roundTrip({ db, temporal, taskQueue: config.taskQueue });
    if (result === 'timeout') {
      res.status(504).json({ error: { code: 'worker_unavailable', message: 'no worker completed the round trip within 20 s' } });
      return;
    }
    res.json(result);
  });
  return r;
}
