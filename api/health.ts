import { Router } from 'express';
import { pingDb } from '../infra/db';
import type { ApiContext } from './context';

const PROBE_TIMEOUT_MS = 3_000;

async function probe(fn: () => Promise<unknown>): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** `GET /health`: Temporal and Postgres reachability, each on its own; 503 when either is down. */
export function healthRoutes({ db, temporal, config }: ApiContext): Router {
  const r = Router();
  r.get('/health', async (_req, res) => {
    const [temporalProbe, postgres] = await Promise.all([
      probe(() => temporal.workflowService.describeNamespace({ namespace: config.temporalNamespace })),
      probe(() => pingDb(db)),
    ]);
    const ok = temporalProbe.ok && postgres.ok;
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', temporal: temporalProbe, postgres });
  });
  return r;
}
