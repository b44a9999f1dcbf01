/**
 * The whole DeviceRollout stack for the benchmark, started by the benchmark itself with the
 * project's own infra helpers, in a temporary DATA_DIR on free loopback ports:
 *  - PostgreSQL (devstack/postgres.ts) and the Temporal dev server (devstack/dev-server.ts, SQLite file
 *    like `npm start`, or in memory);
 *  - the worker and the API as CHILD PROCESSES, exactly the deployable entry points
 *    (`worker/main.ts`, `api/main.ts`, run by `node --import tsx`), so their RSS and CPU are their own;
 *  - a Temporal client and a knex handle in this process (the direct rollout fallback, history
 *    fetching, and reading the job rows for exact timings).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort, type ManagedProcess, startProcess, waitFor } from '../devstack/child-process';
import { type DevServer, startDevServer } from '../devstack/dev-server';
import { type EmbeddedPostgres, startPostgres } from '../devstack/postgres';
import { PROJECT_ROOT } from '../devstack/temporal-servers';
import { type Config, loadConfig } from '../infra/config';
import { createDb, type Db, migrate } from '../infra/db';
import { ProcSampler } from './procs';

export interface BenchStackOptions {
  /** Server-side timeouts etc. for the API and the worker (env names of infra/config.ts). */
  env?: Record<string, string>;
  /** Extra env of the worker only. */
  workerEnv?: Record<string, string>;
  /** Worker entry (default the deployable `worker/main.ts`). */
  workerEntry?: string;
  temporalDb?: 'file' | 'memory';
  /** SQLite pragmas of the dev server's DB file (default: devstack/dev-server.ts's, WAL). */
  sqlitePragmas?: Record<string, string>;
  keepDir?: boolean;
  log?: (line: string) => void;
}

export interface BenchStack {
  dir: string;
  apiUrl: string;
  adminKey: string;
  temporalAddress: string;
  config: Config;
  db: Db;
  client: Client;
  dev: DevServer;
  pg: EmbeddedPostgres;
  api: ManagedProcess;
  worker: ManagedProcess;
  workerMetricsUrl: string;
  sampler: ProcSampler;
  /** The env the API and the worker got. */
  env: NodeJS.ProcessEnv;
  /** Starts another child on the same services with an IPC channel (the baseline worker). */
  spawnIpcChild(name: string, entry: string, extraEnv?: Record<string, string>): IpcChild;
  stop(): Promise<void>;
}

export interface IpcChild {
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A `node --import tsx <entry>` child with an IPC channel, its output in `logFile`, stopped by pid. */
function spawnIpc(name: string, entry: string, env: NodeJS.ProcessEnv, logFile: string): IpcChild {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      out.end();
    },
  };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}

export async function startBenchStack(opts: BenchStackOptions = {}): Promise<BenchStack> {
  const log = opts.log ?? (() => undefined);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dr-bench-'));
  await fs.chmod(dir, 0o755);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    if (!opts.keepDir) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    log(`data in ${dir}`);
    const [pg, dev] = await Promise.all([
      startPostgres({ dataDir: path.join(dir, 'pg'), database: 'device_rollout' }),
      startDevServer({
        logFile: path.join(dir, 'temporal.log'),
        ...(opts.temporalDb === 'memory' ? {} : { dbFile: path.join(dir, 'temporal.db') }),
        ...(opts.sqlitePragmas ? { sqlitePragmas: opts.sqlitePragmas } : {}),
      }),
    ]);
    stops.push(() => pg.stop());
    stops.push(() => dev.stop());
    const db = createDb(pg.url, { poolMax: 4 });
    stops.push(() => db.destroy());
    await migrate(db);

    const port = await freePort();
    const metricsPort = await freePort();
    const adminKey = `dra_${randomBytes(24).toString('base64url')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      TEMPORAL_ADDRESS: dev.address,
      TEMPORAL_NAMESPACE: dev.namespace,
      TEMPORAL_TASK_QUEUE: 'device-rollout',
      DATABASE_URL: pg.url,
      DATA_DIR: path.join(dir, 'data'),
      ADMIN_API_KEY: adminKey,
      DM_SECRET_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      TEMPORAL_LOG_LEVEL: 'WARN',
      WORKER_METRICS_ADDRESS: 'off',
      ...opts.env,
    };
    await fs.mkdir(path.join(dir, 'data'), { recursive: true });
    const config = loadConfig(env);

    const spawnChild = (name: string, entry: string, extraEnv: Record<string, string> = {}) =>
      startProcess(process.execPath, ['--import', 'tsx', entry], {
        name,
        cwd: PROJECT_ROOT,
        env: { ...env, ...extraEnv },
        logFile: path.join(dir, `${name}.log`),
      });

    const worker = spawnChild('worker', opts.workerEntry ?? 'worker/main.ts', {
      WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      ...opts.workerEnv,
    });
    stops.push(() => worker.stop(15_000));
    const api = spawnChild('api', 'api/main.ts');
    stops.push(() => api.stop(10_000));

    const connection = await Connection.connect({ address: dev.address });
    const client = new Client({ connection, namespace: dev.namespace });
    stops.push(() => connection.close());

    await waitFor('the API', async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200, {
      timeoutMs: 120_000,
      aborted: () => (api.exited() ? `exited; see ${dir}/api.log` : undefined),
    });
    await waitFor(
      'the worker polling its task queue',
      async () => {
        const r = await client.workflowService.describeTaskQueue({
          namespace: dev.namespace,
          taskQueue: { name: config.taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return (r.pollers?.length ?? 0) > 0;
      },
      { timeoutMs: 180_000, intervalMs: 500, aborted: () => (worker.exited() ? `exited; see ${dir}/worker.log` : undefined) },
    );

    const sampler = new ProcSampler();
    sampler.track('worker', worker.pid);
    sampler.track('api', api.pid);
    sampler.track('temporal', dev.process.pid);
    const pm = postmasterPid(pg.dataDir);
    if (pm) sampler.track('postgres', pm);
    sampler.track('bench', process.pid);
    sampler.start(500);
    stops.push(async () => sampler.stop());

    return {
      dir,
      apiUrl: `http://127.0.0.1:${port}`,
      adminKey,
      temporalAddress: dev.address,
      config,
      db,
      client,
      dev,
      pg,
      api,
      worker,
      workerMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      sampler,
      env,
      spawnIpcChild: (name, entry, extraEnv) => {
        const p = spawnIpc(name, entry, { ...env, ...extraEnv }, path.join(dir, `${name}.log`));
        stops.push(() => p.stop());
        return p;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Selected counters of a Prometheus text exposition: name{labels} → value. */
export async function scrapeMetrics(url: string, names: RegExp): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(url)).text();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+\d.eE]+|NaN|\+Inf)$/.exec(line.trim());
      if (!m?.[1] || !names.test(m[1])) continue;
      out[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
    }
  } catch {
    /* metrics are a bonus */
  }
  return out;
}
