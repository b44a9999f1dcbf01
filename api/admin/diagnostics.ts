import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import type { ApiContext } from '../context';

/**
 * `POST /api/v1/diagnostics/round-trip` (admin): proves the whole chain — a workflow on the server,
 * an activity on a worker writing to Postgres — and reads the row back. Answers 504 when no worker
 * picks the task up in time.
 */
export function diagnosticsRoutes({ db, temporal, config }: ApiContext): Router {
  const r = Router();
  r.post('/diagnostics/round-trip', async (_req, res) => {
    const workflowId = `diagnostics/${randomUUID()}`;
    const handle = await temporal.workflow.start('roundTripWorkflow', {
      taskQueue: config.taskQueue,
      workflowId,
      args: ['round trip'],
      workflowExecutionTimeout: '30s',
    });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
    const result = await Promise.race([handle.result() as Promise<{ id: string }>, timeout]);
    if (result === 'timeout') {
      res.status(504).json({ error: { code: 'worker_unavailable', message: 'no worker completed the round trip within 20 s' } });
      return;
    }
    const row = await db('diagnostics').where({ workflow_id: workflowId }).first();
    res.json({ workflowId, runId: handle.firstExecutionRunId, id: result.id, note: row?.note, writtenAt: row?.written_at });
  });
  return r;
}
