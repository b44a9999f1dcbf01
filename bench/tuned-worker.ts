/**
 * The product's worker with explicit worker options (BENCH_WORKER_TUNING, JSON of createWorker's
 * `tuning`: maxConcurrentActivityTaskExecutions, maxConcurrentWorkflowTaskExecutions,
 * maxCachedWorkflows), for `npm run bench -- --worker-tuning '{…}'`: the same activities and
 * workflows as `worker/main.ts` (app/runtime.ts activityDeps), only the worker options differ.
 */
import { NativeConnection } from '@temporalio/worker';
import { activityDeps } from '../app/runtime';
import { databaseUrlOf, temporalAddressOf } from '../infra/addresses';
import { loadConfig } from '../infra/config';
import { createDb } from '../infra/db';
import { installRuntime } from '../infra/telemetry';
import { createWorker } from '../worker/worker';

async function main() {
  installRuntime();
  const config = loadConfig();
  const db = createDb(databaseUrlOf(config), process.env.BENCH_DB_POOL ? { poolMax: Number(process.env.BENCH_DB_POOL) } : {});
  const connection = await NativeConnection.connect({ address: temporalAddressOf(config) });
  const tuning = process.env.BENCH_WORKER_TUNING ? JSON.parse(process.env.BENCH_WORKER_TUNING) : {};
  const worker = await createWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    deps: activityDeps(db, config),
    tuning,
  });
  process.once('SIGTERM', () => worker.shutdown());
  process.once('SIGINT', () => worker.shutdown());
  await worker.run();
  await connection.close();
  await db.destroy();
}

main().catch((err) => {
  process.stderr.write(`tuned worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
