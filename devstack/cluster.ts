/**
 * A real multi-process Temporal cluster on loopback, as production runs it (issue 17), and
 * DeviceRollout scaled out on it — `npm run cluster`, `npm run test:cluster` and `npm run bench --
 * --engine cluster`:
 *
 *  - PostgreSQL (devstack/postgres.ts) with Temporal's persistence (`temporal`) and SQL visibility
 *    (`temporal_visibility`) databases, created and brought to the module's latest schema versions by
 *    Temporal's own schema tool (`temporal-sql-tool create-database / setup-schema / update-schema`),
 *    and DeviceRollout's database (`device_rollout`);
 *  - the Temporal services frontend, history, matching and worker as SEPARATE `temporal-server`
 *    processes, all from one generated config file (`<dir>/temporal/config/cluster.yaml`);
 *  - the namespace registered and the custom search attributes (domain/search-attributes.ts) added —
 *    each must fit SQL visibility's pre-allocated columns per type (SQL_VISIBILITY_LIMITS);
 *  - then N DeviceRollout workers and M API instances (`worker/main.ts`, `api/main.ts`), each a
 *    `node --import tsx` child process, sharing one DATA_DIR (`<dir>/app`: files, DM key).
 *
 * Ports are free loopback ports chosen at each start (config regenerated); the data stays in `dir`.
 * Every process is started and stopped by its pid; each can be killed (SIGKILL) and started again.
 */

import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { SearchAttributeType as SAT, type SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { ALL_SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { freePort, portOpen, type RestartableProcess, restartableProcess, waitFor } from './child-process';
import { type EmbeddedPostgres, startPostgres } from './postgres';
import { ensureTemporalServer, PROJECT_ROOT, type TemporalServerBinaries } from './temporal-servers';

const run = promisify(execFile);

export const TEMPORAL_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type TemporalService = (typeof TEMPORAL_SERVICES)[number];

/** Temporal's databases in the cluster's PostgreSQL (as docker-compose's auto-setup names them). */
const TEMPORAL_DB = 'temporal';
const VISIBILITY_DB = 'temporal_visibility';
const APP_DB = 'device_rollout';

/**
 * Custom search attributes SQL visibility can hold per namespace, by type: the pre-allocated columns
 * (`Keyword01`…`Keyword10`, `Int01`…`Int03` …) of schema/postgresql/v12/visibility/schema.sql.
 */
export function sqlVisibilityLimits(schemaDir: string): Record<string, number> {
  const sql = readFileSync(path.join(schemaDir, 'visibility', 'schema.sql'), 'utf8');
  const limits: Record<string, number> = {};
  for (const m of sql.matchAll(/^\s*(Bool|Datetime|Double|Int|Keyword|KeywordList|Text)(\d\d)\s/gm)) {
    const type = m[1]!;
    limits[type] = Math.max(limits[type] ?? 0, Number(m[2]));
  }
  return limits;
}

/** Our custom search attributes counted by the type names of the visibility schema's columns. */
export function searchAttributeCountsByType(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of ALL_SEARCH_ATTRIBUTES) {
    const t = columnType(k.type);
    counts[t] = (counts[t] ?? 0) + 1;
  }
  return counts;
}

function columnType(t: SearchAttributeType): string {
  switch (t) {
    case SAT.KEYWORD:
      return 'Keyword';
    case SAT.TEXT:
      return 'Text';
    case SAT.INT:
      return 'Int';
    case SAT.DOUBLE:
      return 'Double';
    case SAT.BOOL:
      return 'Bool';
    case SAT.DATETIME:
      return 'Datetime';
    default:
      return 'KeywordList';
  }
}

/** The proto enum value of IndexedValueType for each SDK search attribute type. */
function indexedValueType(t: SearchAttributeType): number {
  switch (t) {
    case SAT.TEXT:
      return 1;
    case SAT.KEYWORD:
      return 2;
    case SAT.INT:
      return 3;
    case SAT.DOUBLE:
      return 4;
    case SAT.BOOL:
      return 5;
    case SAT.DATETIME:
      return 6;
    default:
      return 7; // KEYWORD_LIST
  }
}

// ---------------------------------------------------------------------------------------------
// The Temporal cluster

export interface TemporalClusterOptions {
  /** Everything persistent: `postgres/`, `temporal/` (config), `logs/`. */
  dir: string;
  namespace?: string;
  /** PostgreSQL port (a free one when omitted). */
  pgPort?: number;
  /** Frontend gRPC port (a free one when omitted). */
  frontendPort?: number;
  /** History shards: fixed when the persistence database is created. */
  historyShards?: number;
  /** PostgreSQL `fsync` (default on; tests may switch it off). */
  pgFsync?: boolean;
  /** Temporal's log level (default warn). */
  logLevel?: string;
  log?: (line: string) => void;
  /** Aborted (Ctrl-C) while starting: what has started is stopped, and the start fails. */
  signal?: AbortSignal;
}

export interface TemporalCluster {
  /** host:port of the frontend. */
  readonly address: string;
  readonly namespace: string;
  readonly pg: EmbeddedPostgres;
  /** postgres:// URL of a database of the cluster's PostgreSQL. */
  pgUrl(database: string): string;
  readonly configFile: string;
  readonly services: Record<TemporalService, RestartableProcess>;
  readonly binaries: TemporalServerBinaries;
  stop(): Promise<void>;
}

interface ServicePorts {
  grpc: number;
  membership: number;
  http?: number;
}

function clusterConfigYaml(o: {
  pgPort: number;
  shards: number;
  ports: Record<TemporalService, ServicePorts>;
  dynamicConfigFile: string;
  logLevel: string;
}): string {
  const store = (db: string, maxConns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "127.0.0.1:${o.pgPort}"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const service = (name: TemporalService) => {
    const p = o.ports[name];
    return `  ${name}:
    rpc:
      grpcPort: ${p.grpc}
      membershipPort: ${p.membership}
      bindOnIP: "127.0.0.1"${p.http ? `\n      httpPort: ${p.http}` : ''}`;
  };
  const fe = o.ports.frontend;
  return `# Generated by devstack/cluster.ts at every start (ports are chosen then); edits are overwritten.
log:
  stdout: true
  level: ${o.logLevel}
  format: json

persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: ${o.shards}
  datastores:
    default:
${store(TEMPORAL_DB, 20)}
    visibility:
${store(VISIBILITY_DB, 10)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
${TEMPORAL_SERVICES.map(service).join('\n')}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${fe.grpc}"
      httpAddress: "127.0.0.1:${fe.http}"

dcRedirectionPolicy:
  policy: "noop"

archival:
  history:
    state: "disabled"
  visibility:
    state: "disabled"

namespaceDefaults:
  archival:
    history:
      state: "disabled"
    visibility:
      state: "disabled"

dynamicConfigClient:
  filepath: "${o.dynamicConfigFile}"
  pollInterval: "10s"
`;
}

/** What the dev server switches on by flag (devstack/dev-server.ts), for the same behaviour. */
const DYNAMIC_CONFIG = `# Generated by devstack/cluster.ts: the settings devstack/dev-server.ts passes to the dev server.
frontend.enableUpdateWorkflowExecution:
  - value: true
frontend.enableUpdateWorkflowExecutionAsyncAccepted:
  - value: true
frontend.workerVersioningWorkflowAPIs:
  - value: true
`;

/** A free loopback port below `limit` (the kernel's ephemeral ports start above 32767). */
async function freePortBelow(limit: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 10_000 + Math.floor(Math.random() * (limit - 10_000));
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free loopback port below ${limit}`);
}

async function sqlTool(bin: TemporalServerBinaries, pgPort: number, db: string, args: string[]): Promise<void> {
  await run(
    bin.sqlTool,
    ['--plugin', 'postgres12', '--ep', '127.0.0.1', '--port', String(pgPort), '--user', 'postgres', '--db', db, ...args],
    { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
}

/** Creates the database if missing, its schema if empty, and applies the versions not yet applied. */
async function setupSchema(bin: TemporalServerBinaries, pgPort: number, db: string, schema: 'temporal' | 'visibility') {
  // `create-database` fails when it exists; that is the second start
  await sqlTool(bin, pgPort, db, ['create-database']).catch((err: Error & { stderr?: string }) => {
    if (!/already exists/i.test(`${err.stderr ?? ''}${err.message}`)) throw err;
  });
  // version 0.0 only creates the schema_version tables, and is a no-op once they exist
  await sqlTool(bin, pgPort, db, ['setup-schema', '-v', '0.0']);
  await sqlTool(bin, pgPort, db, ['update-schema', '-d', path.join(bin.postgresSchemaDir, schema, 'versioned')]);
}

export async function startTemporalCluster(o: TemporalClusterOptions): Promise<TemporalCluster> {
  const log = o.log ?? (() => undefined);
  const dir = path.resolve(o.dir);
  const namespace = o.namespace ?? 'default';
  const binaries = await ensureTemporalServer();
  // PostgreSQL runs as `postgres` when we are root: the directories above its data must be traversable
  await fs.mkdir(path.join(dir, 'logs'), { recursive: true });
  await fs.chmod(dir, 0o755);
  const configDir = path.join(dir, 'temporal', 'config');
  await fs.mkdir(configDir, { recursive: true });

  const previous = process.env.PG_FSYNC;
  if (o.pgFsync === false) process.env.PG_FSYNC = 'off';
  const pg = await startPostgres({ dataDir: path.join(dir, 'postgres'), port: o.pgPort, database: APP_DB }).finally(() => {
    if (o.pgFsync === false) {
      if (previous === undefined) delete process.env.PG_FSYNC;
      else process.env.PG_FSYNC = previous;
    }
  });
  const stops: Array<() => Promise<void>> = [() => pg.stop()];
  let stopped: Promise<void> | undefined;
  const stopAll = () => {
    stopped ??= (async () => {
      for (const s of stops.reverse()) await s().catch(() => undefined);
    })();
    return stopped;
  };
  const onAbort = () => void stopAll();
  o.signal?.addEventListener('abort', onAbort);
  try {
    log(`PostgreSQL on 127.0.0.1:${pg.port}; Temporal schemas…`);
    await setupSchema(binaries, pg.port, TEMPORAL_DB, 'temporal');
    await setupSchema(binaries, pg.port, VISIBILITY_DB, 'visibility');

    const ports = {} as Record<TemporalService, ServicePorts>;
    const taken = new Set<number>();
    const pick = async (wanted?: number, below?: number) => {
      if (wanted) {
        taken.add(wanted);
        return wanted;
      }
      for (;;) {
        const p = below ? await freePortBelow(below) : await freePort();
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    for (const s of TEMPORAL_SERVICES) {
      // the cluster_membership table stores the membership port as a smallint
      ports[s] = { grpc: await pick(s === 'frontend' ? o.frontendPort : undefined), membership: await pick(undefined, 32_768) };
    }
    ports.frontend.http = await pick();
    const dynamicConfigFile = path.join(configDir, 'dynamicconfig.yaml');
    await fs.writeFile(dynamicConfigFile, DYNAMIC_CONFIG);
    const configFile = path.join(configDir, 'cluster.yaml');
    await fs.writeFile(
      configFile,
      clusterConfigYaml({
        pgPort: pg.port,
        shards: o.historyShards ?? 4,
        ports,
        dynamicConfigFile,
        logLevel: o.logLevel ?? 'warn',
      }),
    );

    const services = {} as Record<TemporalService, RestartableProcess>;
    for (const s of TEMPORAL_SERVICES) {
      services[s] = restartableProcess({
        name: `temporal ${s}`,
        command: binaries.server,
        args: [
          '--root',
          path.join(dir, 'temporal'),
          '--config',
          'config',
          '--env',
          'cluster',
          '--allow-no-auth',
          'start',
          '--service',
          s,
        ],
        logFile: path.join(dir, 'logs', `temporal-${s}.log`),
        // the worker service serves no gRPC: it is up once it listens for membership
        ready: () => portOpen(s === 'worker' ? ports[s].membership : ports[s].grpc),
        readyTimeoutMs: 120_000,
      });
    }
    // the services find each other through the cluster_membership table. The frontend first: on an
    // empty database each service would race to insert the cluster metadata (duplicate key)
    const startService = async (s: TemporalService) => {
      await services[s].start();
      stops.push(() => services[s].stop(15_000));
    };
    await startService('frontend');
    await Promise.all(TEMPORAL_SERVICES.filter((s) => s !== 'frontend').map(startService));
    const address = `127.0.0.1:${ports.frontend.grpc}`;
    log(`Temporal frontend on ${address}; namespace ${namespace} and search attributes…`);
    await ensureNamespace(address, namespace);

    return {
      address,
      namespace,
      pg,
      pgUrl: (database) => `postgres://postgres@127.0.0.1:${pg.port}/${database}`,
      configFile,
      services,
      binaries,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Registers the namespace (retention 30 days) and adds the custom search attributes it lacks. */
export async function ensureNamespace(address: string, namespace: string): Promise<void> {
  const conn = await Connection.connect({ address, connectTimeout: 10_000 });
  try {
    await waitFor(
      `namespace ${namespace}`,
      async () => {
        try {
          await conn.workflowService.describeNamespace({ namespace });
          return true;
        } catch (err) {
          if (!/not found/i.test((err as Error).message)) throw err;
        }
        await conn.workflowService
          .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(30 * 86_400_000) })
          .catch((err: Error) => {
            if (!/already/i.test(err.message)) throw err;
          });
        return false;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    let added = false;
    await waitFor(
      'custom search attributes',
      async () => {
        const existing = await conn.operatorService.listSearchAttributes({ namespace });
        const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !existing.customAttributes?.[k.name]);
        if (missing.length === 0) return true;
        await conn.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((k) => [k.name, indexedValueType(k.type)])),
        });
        added = true;
        return false;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    // the services' namespace registries refresh every 2 s (system.namespaceCacheRefreshInterval)
    if (added) await new Promise((r) => setTimeout(r, 5_000));
  } finally {
    await conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// DeviceRollout on the cluster

export interface AppInstance {
  readonly process: RestartableProcess;
  /** API instances: their port and base URL. */
  readonly port?: number;
  readonly baseUrl?: string;
}

export interface ScaledAppOptions {
  cluster: TemporalCluster;
  /** DATA_DIR shared by the instances (uploaded files, DM key). */
  dataDir: string;
  logDir: string;
  workers: number;
  apis: number;
  /** API ports (free ones when omitted). */
  apiPorts?: number[];
  /** Environment of every instance (ADMIN_API_KEY, DM_SECRET_KEY, TEMPORAL_TASK_QUEUE, PUSH_TRANSPORT …). */
  env: Record<string, string>;
  /** Aborted (Ctrl-C) while starting: what has started is stopped, and the start fails. */
  signal?: AbortSignal;
  /** Ready check of a worker (e.g. the diagnostics round trip through an API); default: its log says it runs. */
  workerReady?: (index: number) => Promise<boolean>;
}

export interface ScaledApp {
  readonly workers: AppInstance[];
  readonly apis: AppInstance[];
  readonly baseUrls: string[];
  stop(): Promise<void>;
}

/** The environment a DeviceRollout instance of the cluster gets (README configuration). */
function appEnv(cluster: TemporalCluster, dataDir: string, env: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    DATABASE_URL: cluster.pgUrl(APP_DB),
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    WORKER_METRICS_ADDRESS: 'off',
    ...env,
  };
  // a test runner's own settings must not leak into the children
  for (const k of ['VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'NODE_OPTIONS', 'TEST']) delete e[k];
  return e;
}

function nodeArgs(script: string, extra: string[] = []): string[] {
  // node itself (no tsx relay process): a SIGKILL hits the worker or API, not a wrapper
  return [...extra, '--import', 'tsx', script];
}

/**
 * Starts `workers` workers and `apis` API instances against the cluster: first one API (it migrates
 * the database and is then the readiness probe), then the workers one after the other (each creates
 * the purge schedule idempotently), then the other APIs.
 */
export async function startScaledApp(o: ScaledAppOptions): Promise<ScaledApp> {
  await fs.mkdir(o.dataDir, { recursive: true });
  await fs.mkdir(o.logDir, { recursive: true });
  const apis: AppInstance[] = [];
  const workers: AppInstance[] = [];
  const started: RestartableProcess[] = [];
  const taskQueue = o.env.TEMPORAL_TASK_QUEUE ?? process.env.TEMPORAL_TASK_QUEUE ?? 'device-rollout';
  let stopped: Promise<void> | undefined;
  const stop = () => {
    // in reverse start order: the later APIs, the workers, then the first API
    stopped ??= (async () => {
      for (const p of [...started].reverse()) await p.stop(15_000).catch(() => undefined);
    })();
    return stopped;
  };
  const onAbort = () => void stop();
  o.signal?.addEventListener('abort', onAbort);
  try {
    for (let i = 0; i < o.apis; i++) {
      const port = o.apiPorts?.[i] ?? (await freePort());
      const baseUrl = `http://127.0.0.1:${port}`;
      const env = appEnv(o.cluster, o.dataDir, { PUBLIC_URL: baseUrl, ...o.env, PORT: String(port) });
      const proc = restartableProcess({
        name: `api ${i + 1}`,
        command: process.execPath,
        args: nodeArgs('api/main.ts', (process.env.CLUSTER_API_NODE_OPTIONS ?? '').split(' ').filter(Boolean)),
        env,
        cwd: PROJECT_ROOT,
        logFile: path.join(o.logDir, `api-${i + 1}.log`),
        ready: async () => (await fetch(`${baseUrl}/health`)).status === 200,
      });
      apis.push({ process: proc, port, baseUrl });
    }
    for (let i = 0; i < o.workers; i++) {
      const logFile = path.join(o.logDir, `worker-${i + 1}.log`);
      const proc = restartableProcess({
        name: `worker ${i + 1}`,
        command: process.execPath,
        args: nodeArgs('worker/main.ts', (process.env.CLUSTER_WORKER_NODE_OPTIONS ?? '').split(' ').filter(Boolean)),
        env: appEnv(o.cluster, o.dataDir, o.env),
        cwd: PROJECT_ROOT,
        logFile,
        ready: o.workerReady ? () => o.workerReady!(i) : () => pollsTaskQueue(o.cluster, taskQueue, proc.pid()),
      });
      workers.push({ process: proc });
    }
    const first = apis[0];
    if (first) {
      await first.process.start();
      started.push(first.process);
    }
    for (const w of workers) {
      await w.process.start();
      started.push(w.process);
    }
    await Promise.all(
      apis.slice(1).map(async (a) => {
        await a.process.start();
        started.push(a.process);
      }),
    );
    if (o.signal?.aborted) throw new Error('aborted');
  } catch (err) {
    await stop();
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return { workers, apis, baseUrls: apis.map((a) => a.baseUrl!), stop };
}

/** True once the process polls the task queue (the SDK's default identity is `<pid>@<host>`). */
async function pollsTaskQueue(cluster: TemporalCluster, taskQueue: string, pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return false;
  const conn = await Connection.connect({ address: cluster.address, connectTimeout: 5_000 });
  try {
    const res = await conn.workflowService.describeTaskQueue({
      namespace: cluster.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // workflow
    });
    return (res.pollers ?? []).some((p) => p.identity?.startsWith(`${pid}@`));
  } finally {
    await conn.close();
  }
}
