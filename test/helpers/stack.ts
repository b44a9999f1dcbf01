/**
 * The real DeviceRollout stack for one integration test file: its own database (cloned from the
 * migrated template), its own task queue on the shared dev server, a worker and the HTTP API on a
 * free loopback port.
 */
import { randomUUID } from 'node:crypto';
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
import { createWorker } from '../../worker/worker';
import { withDatabase } from '../setup/integration-setup';

export interface Stack {
  baseUrl: string;
  adminKey: string;
  db: Db;
  client: Client;
  config: Config;
  /** Undefined with `noWorker`. */
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
  const database = await createTestDatabase();
  const port = await freePort();
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
  const nativeConnection = await NativeConnection.connect({ address: config.temporalAddress! });
  // the production wiring (recording push channel, DM engine, mailer), with the test's overrides
  const deps: ActivityDeps = { ...activityDeps(db, config), ...opts.deps?.(db, config) };
  const worker = opts.noWorker
    ? undefined
    : await createWorker({
        connection: nativeConnection,
        namespace: config.temporalNamespace,
        taskQueue: config.taskQueue,
        deps,
        workflowBundle: { codePath: inject('workflowBundlePath') },
      });
  const running = worker ? worker.run() : Promise.resolve();
  const app = createApp({ db, temporal: client, config, log: (msg, err) => console.error(msg, err) });
  const server = await listenApi(app, port, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${port}`;

  return {
    baseUrl,
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
      const res = await fetch(`${baseUrl}${path}`, {
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
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await nativeConnection.close();
      await connection.close();
      await db.destroy();
      await database.drop();
    },
  };
}
