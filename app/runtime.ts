/**
 * Wiring shared by `npm start`, `npm run worker` and `npm run api`: connects to Temporal and
 * Postgres, builds the activity dependencies, the worker and the HTTP server with its signal outbox
 * dispatcher (services/signal-outbox.ts: delivers the signals the device endpoints queue).
 */
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities';
import { createApp } from '../api/app';
import { answerClientErrorsAsJson } from '../api/http/client-errors';
import { configuredMailer, configuredPushChannel } from '../infra/channels/configured';
import type { Config } from '../infra/config';
import type { Db } from '../infra/db';
import { type Logger, logError } from '../infra/logger';
import { createDmEngine } from '../omadm/engine';
import { type SignalDispatcher, startSignalDispatcher } from '../services/signal-outbox';
import { temporalSignaller } from '../services/signals';
import { createWorker } from '../worker/worker';

export async function connectClient(config: Config, address: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace: config.temporalNamespace });
}

export function activityDeps(db: Db, config: Config): ActivityDeps {
  const push = configuredPushChannel(db);
  return { db, config, push, mailer: configuredMailer(db), dm: createDmEngine({ db, push, config }) };
}

export async function startWorker(
  config: Config,
  address: string,
  db: Db,
): Promise<{ worker: Worker; done: Promise<void>; close(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    deps: activityDeps(db, config),
  });
  const done = worker.run();
  return {
    worker,
    done,
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
      await connection.close();
    },
  };
}

/** The dispatcher of each server `startApi` started: `closeServer` stops it after the server. */
const dispatchers = new WeakMap<Server, SignalDispatcher>();

/**
 * The API on config.port with its signal outbox dispatcher (signalling through `client`); close both
 * with `closeServer`.
 */
export async function startApi(config: Config, client: Client, db: Db, log: Logger): Promise<Server> {
  const dispatcher = startSignalDispatcher({ db, signaller: temporalSignaller(client), log: logError(log) });
  const app = createApp({ db, temporal: client, config, log: logError(log), logger: log, signalOutbox: dispatcher });
  const server = await listenApi(app, config.port, config.host).catch(async (err: unknown) => {
    await dispatcher.stop();
    throw err;
  });
  dispatchers.set(server, dispatcher);
  return server;
}

/** Serves the API app on host:port, parser-refused requests answered as JSON errors too. */
export function listenApi(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    answerClientErrorsAsJson(server);
    server.once('error', reject);
  });
}

/** Closes the server (open connections too), then stops its signal dispatcher (its batch in flight recorded). */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await dispatchers.get(server)?.stop();
}
