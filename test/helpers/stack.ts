/**
 * The real DeviceRollout stack for one integration test file: its own database (cloned from the
 * migrated template), its own task queue on the shared dev server, a worker and the HTTP API on a
 * free loopback port. Run by the cluster suite (vitest.cluster.config.mts, `scaleOut` 2) it starts
 * two workers and two API instances against the Temporal cluster, and `api()` alternates between them.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import pg from 'pg';
import { inject } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createApp } from '../../api/app';
import { activityDeps, listenApi } from '../../app/runtime';
import { freePort } from '../../devstack/child-process';
import { type Config, loadConfig } from '../../infra/config';
import { createDb, type Db } from '../../infra/db';
import { newSecret } from '../../services/secrets';
import { type SignalDispatcher, startSignalDispatcher } from '../../services/signal-outbox';
import { type Signaller, temporalSignaller } from '../../services/signals';
import { createWorker } from '../../worker/worker';
import { withDatabase } from '../setup/integration-setup';

export interface Stack {
  baseUrl: string;
  /** Every API instance (one, or `scaleOut` of them); `api()` takes them in turn. */
  baseUrls: string[];
  adminKey: string;
  db: Db;
  client: Client;
  config: Config;
  /** Undefined with `noWorker` (the first one when scaled out). */
  worker?: Worker;
  /** JSON request against the API; admin key unless `token` is given (null: no auth). */
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T; headers: Headers }>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  deps?: (db: Db, config: Config) => Partial<ActivityDeps>;
  /** Start without a worker (e.g. to test the API alone). */
  noWorker?: boolean;
  /** How the API's signal outbox dispatchers signal (default: through the Temporal client). */
  signaller?: (client: Client) => Signaller;
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `dr_t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`);
  await c.end();
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await d.end();
    },
  };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const instances = inject('scaleOut') ?? 1;
  const database = await createTestDatabase();
  const ports: number[] = [];
  while (ports.length < instances) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const port = ports[0]!;
  const adminKey = newSecret('dra');
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    DATABASE_URL: database.url,
    ADMIN_API_KEY: adminKey,
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    DATA_DIR: `${inject('integrationTmpDir')}/data-${port}`,
    LOG_LEVEL: 'warn',
    ...opts.env,
  });
  const db = createDb(database.url);
  const connection = await Connection.connect({ address: config.temporalAddress! });
  const client = new Client({ connection, namespace: config.temporalNamespace });
  const nativeConnections: NativeConnection[] = [];
  const workers: Worker[] = [];
  for (let i = 0; i < (opts.noWorker ? 0 : instances); i++) {
    // each worker its own connection, as separate worker processes have
    const nativeConnection = await NativeConnection.connect({ address: config.temporalAddress! });
    nativeConnections.push(nativeConnection);
    // the production wiring (recording push channel, DM engine, mailer), with the test's overrides
    const deps: ActivityDeps = { ...activityDeps(db, config), ...opts.deps?.(db, config) };
    workers.push(
      await createWorker({
        connection: nativeConnection,
        namespace: config.temporalNamespace,
        taskQueue: config.taskQueue,
        deps,
        workflowBundle: { codePath: inject('workflowBundlePath') },
      }),
    );
  }
  const worker = workers[0];
  const runs = workers.map((w) => w.run());
  const running = Promise.all(runs).then(() => undefined);
  const servers: Server[] = [];
  // each API instance with its signal outbox dispatcher, as in app/runtime.ts startApi; on a pool of
  // their own, so that their polls stay out of what a test counts on `db` (its 'query' events)
  const dispatchers: SignalDispatcher[] = [];
  const outboxDb = createDb(database.url, { poolMax: 2 * instances });
  const signaller = opts.signaller?.(client) ?? temporalSignaller(client);
  const log = (msg: string, err?: unknown) => console.error(msg, err);
  for (const p of ports) {
    const dispatcher = startSignalDispatcher({ db: outboxDb, signaller, log });
    dispatchers.push(dispatcher);
    const app = createApp({ db, temporal: client, config, log, signalOutbox: dispatcher });
    servers.push(await listenApi(app, p, '127.0.0.1'));
  }
  const baseUrls = ports.map((p) => `http://127.0.0.1:${p}`);
  const baseUrl = baseUrls[0]!;
  let next = 0;

  return {
    baseUrl,
    baseUrls,
    adminKey,
    db,
    client,
    config,
    worker,
    async api(method, path, body, token) {
      const headers: Record<string, string> = {};
      const auth = token === undefined ? adminKey : token;
      if (auth) headers.authorization = `Bearer ${auth}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${baseUrls[next++ % baseUrls.length]}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
      await Promise.all(dispatchers.map((d) => d.stop()));
      await outboxDb.destroy();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running.catch(() => undefined);
      for (const c of nativeConnections) await c.close();
      await connection.close();
      await db.destroy();
      await database.drop();
    },
  };
}
