/**
 * The baseline's worker (a child process of the benchmark, like the product's worker): the workflows
 * of bench/baseline-workflows.ts on their own task queue (BASELINE_TASK_QUEUE), no-op activities, and
 * the same worker options as the product's worker (the SDK defaults, or BENCH_WORKER_TUNING when the
 * benchmark tries a tuning on both). The `push` activity tells the benchmark process (IPC) which
 * simulated device to play; `final` reports the completion instant.
 */
import path from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { installRuntime } from '../infra/telemetry';
import type { BaselineActivities } from './baseline-workflows';

async function main() {
  installRuntime();
  const send = (m: unknown) => process.send?.(m);
  const activities: BaselineActivities = {
    async noop() {
      return { ok: true };
    },
    async push(input) {
      send({ t: 'push', workflowId: input.workflowId, seq: input.seq });
      return { sent: true };
    },
    async final(input) {
      send({ t: 'final', seq: input.seq, at: Date.now() });
      return { ok: true };
    },
    async plan(input) {
      return { slots: input.count };
    },
  };
  // prebuilt by the benchmark (BASELINE_WORKFLOW_BUNDLE), as the product's worker runs dist/workflow-bundle.js
  const prebuilt = process.env.BASELINE_WORKFLOW_BUNDLE;
  const workflowBundle = prebuilt
    ? { codePath: prebuilt }
    : await bundleWorkflowCode({
        workflowsPath: path.join(__dirname, 'baseline-workflows.ts'),
        logger: { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never,
      });
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS as string });
  const tuning = process.env.BENCH_WORKER_TUNING ? JSON.parse(process.env.BENCH_WORKER_TUNING) : {};
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: process.env.BASELINE_TASK_QUEUE || 'bench-baseline',
    workflowBundle,
    activities,
    ...tuning,
  });
  process.once('SIGTERM', () => worker.shutdown());
  process.once('SIGINT', () => worker.shutdown());
  process.once('disconnect', () => worker.shutdown());
  send({ t: 'ready' });
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  process.stderr.write(`baseline worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
