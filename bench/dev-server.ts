/**
 * The Temporal dev server for the benchmark: infra/dev-server.ts's `startDevServer` when no extra
 * flags are asked for; with extra flags (e.g. `--sqlite-pragma journal_mode=wal`) the same command
 * line plus those flags — infra/dev-server.ts takes no extra flags, and the benchmark must be able
 * to measure what they change before anyone changes `npm start`.
 */
import { Connection } from '@temporalio/client';
import { searchAttributeFlags } from '../domain/search-attributes';
import { freePort, portOpen, startProcess, waitFor } from '../infra/child-process';
import { type DevServer, startDevServer } from '../infra/dev-server';
import { ensureTemporalCli } from '../infra/temporal-servers';

export async function startBenchDevServer(o: { dbFile?: string; logFile: string; extraArgs: string[] }): Promise<DevServer> {
  if (o.extraArgs.length === 0) return startDevServer({ logFile: o.logFile, ...(o.dbFile ? { dbFile: o.dbFile } : {}) });
  const exe = await ensureTemporalCli();
  if (exe.type !== 'existing-path') throw new Error('the Temporal CLI is not available (install Go, or set TEMPORAL_CLI_PATH)');
  const ip = '127.0.0.1';
  const port = await freePort(ip);
  const namespace = 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--http-port',
    String(await freePort(ip)),
    '--namespace',
    namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    '--headless',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value',
    'frontend.workerVersioningWorkflowAPIs=true',
    ...searchAttributeFlags(),
    ...(o.dbFile ? ['--db-filename', o.dbFile] : []),
    ...o.extraArgs,
  ];
  const proc = startProcess(exe.path, args, { name: 'temporal dev server', logFile: o.logFile });
  const address = `${ip}:${port}`;
  try {
    await waitFor(
      `Temporal dev server on ${address}`,
      async () => {
        if (!(await portOpen(port, ip))) return false;
        const conn = await Connection.connect({ address, connectTimeout: 2_000 });
        try {
          await conn.workflowService.describeNamespace({ namespace });
          return true;
        } finally {
          await conn.close();
        }
      },
      { timeoutMs: 120_000, aborted: () => (proc.exited() ? `exited early; see ${o.logFile}` : undefined) },
    );
  } catch (err) {
    await proc.stop(2_000);
    throw err;
  }
  return { address, port, namespace, process: proc, stop: () => proc.stop(15_000) };
}
