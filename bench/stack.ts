/**
 * The whole DeviceRollout stack for the benchmark, started by the benchmark itself with the
 * project's own infra helpers, in a temporary DATA_DIR on free loopback ports:
 *  - PostgreSQL (devstack/postgres.ts) and the Temporal dev server (devstack/dev-server.ts, SQLite file
 *    like `npm start`, or in memory) — or, with `engine: 'cluster'`, the multi-process Temporal cluster
 *    of `npm run cluster` (devstack/cluster.ts: frontend, history, matching, worker on PostgreSQL) with
 *    `workers` workers and `apis` API instances (processes `worker#1`, `worker#2` … in the figures,
 *    summed as `worker`; the Temporal services as `temporal#frontend` … summed as `temporal`);
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
import { bundleWorkflowCode } from '@temporalio/worker';
import { freePort, type ManagedProcess, startProcess, waitFor } from '../devstack/child-process';
import { startTemporalCluster, type TemporalCluster } from '../devstack/cluster';
import { type DevServer, startDevServer } from '../devstack/dev-server';
import { type EmbeddedPostgres, startPostgres } from '../devstack/postgres';
import { PROJECT_ROOT } from '../devstack/temporal-servers';
import { type Config, loadConfig } from '../infra/config';
import { createDb, type Db, migrate } from '../infra/db';
import { compileEntries } from '../scripts/build';
import { enableStatementStats } from './pg-stats';
import { ProcSampler } from './procs';

export interface BenchStackOptions {
  /** Server-side timeouts etc. for the API and the worker (env names of infra/config.ts). */
  env?: Record<string, string>;
  /** Extra env of the worker only. */
  workerEnv?: Record<string, string>;
  /** Extra node/V8 flags of the worker processes (before the entry). */
  workerNodeFlags?: string[];
  /** Worker entry (default the deployable `worker/main.ts`). */
  workerEntry?: string;
  temporalDb?: 'file' | 'memory';
  /** SQLite pragmas of the dev server's DB file (default: devstack/dev-server.ts's, WAL). */
  sqlitePragmas?: Record<string, string>;
  keepDir?: boolean;
  log?: (line: string) => void;
  /** `dev` (default): the Temporal dev server; `cluster`: the multi-process cluster. */
  engine?: 'dev' | 'cluster';
  /** DeviceRollout worker processes (default 1). */
  workers?: number;
  /** DeviceRollout API processes (default 1); the simulator spreads its requests over them. */
  apis?: number;
}

export interface BenchStack {
  dir: string;
  /** The first API instance. */
  apiUrl: string;
  /** Every API instance. */
  apiUrls: string[];
  adminKey: string;
  temporalAddress: string;
  config: Config;
  db: Db;
  client: Client;
  /** The dev server (engine `dev`). */
  dev?: DevServer;
  pg: EmbeddedPostgres;
  /** The first API and worker process. */
  api: ManagedProcess;
  worker: ManagedProcess;
  workerMetricsUrl: string;
  /** pg_stat_statements is loaded (engine `dev`): each phase takes a statement profile. */
  statementStats: boolean;
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

/** How node runs an entry: compiled JavaScript as is (what production runs), TypeScript through tsx. */
function nodeArgs(entry: string): string[] {
  return entry.endsWith('.js') ? [entry] : ['--import', 'tsx', entry];
}

/**
 * `npm run build` (dist/worker.js, dist/api.js, the workflow bundle), and the baseline's worker built
 * the same way (dist/bench/: its entry and its workflow bundle), so that both sides run compiled
 * JavaScript with a prebuilt workflow bundle, as production does.
 */
async function buildCompiled(log: (m: string) => void): Promise<void> {
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: PROJECT_ROOT, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run build failed (exit ${code})`))));
  });
  const out = path.join(PROJECT_ROOT, 'dist', 'bench');
  await fs.mkdir(out, { recursive: true });
  await compileEntries({ 'baseline-worker': 'bench/baseline-worker.ts' }, out);
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(PROJECT_ROOT, 'bench', 'baseline-workflows.ts'),
    logger: { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as never,
  });
  await fs.writeFile(path.join(out, 'baseline-workflow-bundle.js'), code);
  log(`built dist/ (npm run build) and the baseline worker in ${Date.now() - t0} ms`);
}

/** The compiled baseline worker and its workflow bundle (`buildCompiled`). */
export const BASELINE_WORKER_JS = 'dist/bench/baseline-worker.js';
export const BASELINE_WORKFLOW_BUNDLE = path.join(PROJECT_ROOT, 'dist', 'bench', 'baseline-workflow-bundle.js');

/** A `node <entry>` child with an IPC channel, its output in `logFile`, stopped by pid. */
function spawnIpc(name: string, entry: string, env: NodeJS.ProcessEnv, logFile: string): IpcChild {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, nodeArgs(entry), {
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
    let pg: EmbeddedPostgres;
    let dev: DevServer | undefined;
    let cluster: TemporalCluster | undefined;
    if (opts.engine === 'cluster') {
      const c = await startTemporalCluster({ dir: path.join(dir, 'engine'), log });
      cluster = c;
      stops.push(() => c.stop());
      pg = c.pg;
    } else {
      const [p, d] = await Promise.all([
        startPostgres({
          dataDir: path.join(dir, 'pg'),
          database: 'device_rollout',
          // the statement profile of each phase (pg_stat_statements; its cost is the same for every phase)
          settings: {
            shared_preload_libraries: 'pg_stat_statements',
            'pg_stat_statements.track': 'top',
            'pg_stat_statements.track_planning': 'on',
            // the WAL flushes' time (pg_stat_wal), sampled beside the device requests' stalls
            track_wal_io_timing: 'on',
          },
        }),
        startDevServer({
          logFile: path.join(dir, 'temporal.log'),
          ...(opts.temporalDb === 'memory' ? {} : { dbFile: path.join(dir, 'temporal.db') }),
          ...(opts.sqlitePragmas ? { sqlitePragmas: opts.sqlitePragmas } : {}),
        }),
      ]);
      pg = p;
      dev = d;
      stops.push(() => p.stop());
      stops.push(() => d.stop());
    }
    const temporalAddress = cluster?.address ?? dev!.address;
    const namespace = cluster?.namespace ?? dev!.namespace;
    const db = createDb(pg.url, { poolMax: 4 });
    stops.push(() => db.destroy());
    await migrate(db);
    const statementStats = await enableStatementStats(db);

    const ports: number[] = [];
    while (ports.length < Math.max(1, opts.apis ?? 1)) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const port = ports[0]!;
    const metricsPort = await freePort();
    const adminKey = `dra_${randomBytes(24).toString('base64url')}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
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

    // BENCH_CPU_PROF=<dir>: the workers and APIs write V8 CPU profiles there when they stop (--cpu-prof)
    await buildCompiled(log);
    const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
    const spawnChild = (name: string, entry: string, extraEnv: Record<string, string> = {}, flags: string[] = []) =>
      startProcess(process.execPath, [...prof, ...flags, ...nodeArgs(entry)], {
        name,
        cwd: PROJECT_ROOT,
        env: { ...env, ...extraEnv },
        logFile: path.join(dir, `${name}.log`),
      });

    // several instances: `worker#1`, `worker#2` … (one: `worker`); the SDK metrics of the first only
    const nWorkers = Math.max(1, opts.workers ?? 1);
    const workerName = (i: number) => (nWorkers > 1 ? `worker#${i + 1}` : 'worker');
    const apiName = (i: number) => (ports.length > 1 ? `api#${i + 1}` : 'api');
    // the first API migrates alone; then the rest
    const apis: ManagedProcess[] = [];
    for (const [i, p] of ports.entries()) {
      const a = spawnChild(apiName(i), 'dist/api.js', { PORT: String(p) });
      apis.push(a);
      stops.push(() => a.stop(10_000));
      await waitFor(`API ${i + 1}`, async () => (await fetch(`http://127.0.0.1:${p}/health`)).status === 200, {
        timeoutMs: 120_000,
        aborted: () => (a.exited() ? `exited; see ${dir}/${apiName(i)}.log` : undefined),
      });
    }
    const workers: ManagedProcess[] = [];
    for (let i = 0; i < nWorkers; i++) {
      const w = spawnChild(
        workerName(i),
        opts.workerEntry ?? 'dist/worker.js',
        {
          ...(i === 0 ? { WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` } : {}),
          ...opts.workerEnv,
        },
        opts.workerNodeFlags,
      );
      workers.push(w);
      stops.push(() => w.stop(15_000));
    }
    const worker = workers[0]!;
    const api = apis[0]!;

    const connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection, namespace });
    stops.push(() => connection.close());

    await waitFor(
      'the worker polling its task queue',
      async () => {
        const r = await client.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: config.taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return new Set((r.pollers ?? []).map((x) => x.identity)).size >= nWorkers;
      },
      {
        timeoutMs: 180_000,
        intervalMs: 500,
        aborted: () => (workers.some((w) => w.exited()) ? `a worker exited; see ${dir}/worker*.log` : undefined),
      },
    );

    const sampler = new ProcSampler();
    for (const [i, w] of workers.entries()) sampler.track(workerName(i), w.pid);
    for (const [i, a] of apis.entries()) sampler.track(apiName(i), a.pid);
    if (dev) sampler.track('temporal', dev.process.pid);
    for (const [name, p] of Object.entries(cluster?.services ?? {})) sampler.track(`temporal#${name}`, p.pid() ?? 0);
    const pm = postmasterPid(pg.dataDir);
    if (pm) sampler.track('postgres', pm);
    sampler.track('bench', process.pid);
    sampler.start(500);
    stops.push(async () => sampler.stop());

    return {
      dir,
      apiUrl: `http://127.0.0.1:${port}`,
      apiUrls: ports.map((p) => `http://127.0.0.1:${p}`),
      adminKey,
      temporalAddress,
      config,
      db,
      client,
      dev,
      pg,
      api,
      worker,
      workerMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      statementStats,
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
