/**
 * The Temporal dev server (`temporal server start-dev`): real Temporal with SQLite persistence and
 * the Web UI, used by `npm start` (persistent DB file under DATA_DIR) and by the integration tests
 * (throwaway). The custom search attributes are registered by flag on every start.
 *
 * With a DB file, SQLite runs in WAL mode with `synchronous=normal` unless told otherwise: with
 * SQLite's defaults (rollback journal, a full fsync per commit) the server spent most of its time
 * waiting for its serialized commits — twice the install throughput and 40 % less Temporal CPU per
 * install on the project's machine (docs/performance.md). It survives crashes of the process; a power
 * failure can lose the last transactions — the right trade for the embedded development server.
 */
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeFlags } from '../domain/search-attributes';
import { freePort, type ManagedProcess, portOpen, startProcess, waitFor } from './child-process';
import { ensureTemporalCli } from './temporal-servers';

export interface DevServerOptions {
  /** gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; headless when omitted. */
  uiPort?: number;
  /** SQLite file for persistence; in-memory when omitted. */
  dbFile?: string;
  /** SQLite pragmas for the DB file (`--sqlite-pragma`); `{}` keeps SQLite's defaults. */
  sqlitePragmas?: Record<string, string>;
  namespace?: string;
  logFile?: string;
  ip?: string;
  /** Temporal's HTTP API port; a free one when omitted (the CLI's default, port+1000, may collide). */
  httpPort?: number;
}

export interface DevServer {
  address: string;
  port: number;
  uiPort?: number;
  namespace: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** What `dbFile` runs with unless `sqlitePragmas` says otherwise. */
const DEFAULT_SQLITE_PRAGMAS: Readonly<Record<string, string>> = { journal_mode: 'wal', synchronous: 'normal' };

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const exe = await ensureTemporalCli();
  if (exe.type !== 'existing-path') {
    throw new Error('the Temporal CLI is not available (install Go, or set TEMPORAL_CLI_PATH)');
  }
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(ip));
  const namespace = opts.namespace ?? 'default';
  if (await portOpen(port, ip)) throw new Error(`port ${ip}:${port} is already in use (is another Temporal running?)`);
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--http-port',
    String(opts.httpPort ?? (await freePort(ip))),
    '--namespace',
    namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--dynamic-config-value',
    'frontend.workerVersioningWorkflowAPIs=true',
    ...searchAttributeFlags(),
  ];
  if (opts.dbFile) {
    args.push('--db-filename', path.resolve(opts.dbFile));
    for (const [k, v] of Object.entries(opts.sqlitePragmas ?? DEFAULT_SQLITE_PRAGMAS)) args.push('--sqlite-pragma', `${k}=${v}`);
  }
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort), '--ui-ip', ip);
  else args.push('--headless');

  const proc = startProcess(exe.path, args, { name: 'temporal dev server', logFile: opts.logFile });
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
      {
        timeoutMs: 120_000,
        aborted: () => (proc.exited() ? `exited early${opts.logFile ? `; see ${opts.logFile}` : ''}` : undefined),
      },
    );
  } catch (err) {
    await proc.stop(2_000);
    throw err;
  }
  return { address, port, uiPort: opts.uiPort, namespace, process: proc, stop: () => proc.stop(15_000) };
}
