/**
 * `npm start`: everything on an embedded default. With no configuration it starts the Temporal dev
 * server (SQLite file and UI on 8233) and PostgreSQL (data under DATA_DIR), runs migrations, starts
 * the worker and the API, creates the first admin key (printed once) and prints the URLs.
 * TEMPORAL_ADDRESS / DATABASE_URL select external services instead. Ctrl-C stops every part.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { closeServer, connectClient, startApi, startWorker } from '../app/runtime';
import { type DevServer, startDevServer } from '../devstack/dev-server';
import { type EmbeddedPostgres, startPostgres } from '../devstack/postgres';
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';
import { logger } from '../infra/logger';
import { setNamespaceRetention } from '../infra/namespace';
import { ensurePurgeSchedule } from '../infra/schedules';
import { installRuntime } from '../infra/telemetry';
import { ensureFirstAdminKey } from '../services/secrets';

async function main() {
  const config = loadConfig();
  const log = logger.child({ part: 'start' });
  const { metricsAddress } = installRuntime();
  await fs.mkdir(config.dataDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping…');
    for (const stop of stops.reverse()) await stop().catch((err) => log.error({ err }, 'stop failed'));
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  try {
    let pg: EmbeddedPostgres | undefined;
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      log.info({ port: config.embeddedPostgresPort }, 'starting embedded PostgreSQL');
      pg = await startPostgres({ dataDir: path.join(config.dataDir, 'postgres'), port: config.embeddedPostgresPort });
      stops.push(() => pg!.stop());
      databaseUrl = pg.url;
    }
    let dev: DevServer | undefined;
    let address = config.temporalAddress;
    if (!address) {
      log.info({ port: config.temporalPort, uiPort: config.temporalUiPort }, 'starting the Temporal dev server');
      dev = await startDevServer({
        port: config.temporalPort,
        uiPort: config.temporalUiPort,
        dbFile: path.join(config.dataDir, 'temporal.db'),
        namespace: config.temporalNamespace,
        logFile: path.join(config.dataDir, 'temporal.log'),
      });
      stops.push(() => dev!.stop());
      address = dev.address;
    }

    const db = createDb(databaseUrl);
    stops.push(() => db.destroy());
    const applied = await migrate(db);
    if (applied.length) log.info({ applied }, 'migrations applied');

    const client = await connectClient(config, address);
    stops.push(() => client.connection.close());
    const retention = config.namespaceRetentionMs ?? (dev ? 30 * 86_400_000 : undefined);
    if (retention) await setNamespaceRetention(client, config.temporalNamespace, retention);
    await ensurePurgeSchedule(client, config);
    const worker = await startWorker(config, address, db);
    stops.push(() => worker.close());
    worker.done.catch((err) => {
      log.error({ err }, 'worker stopped');
      void shutdown(1);
    });
    const server = await startApi(config, client, db, logger.child({ part: 'api' }));
    stops.push(() => closeServer(server));

    const firstKey = await ensureFirstAdminKey(db, config.adminApiKey);
    const base = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`;
    const lines = [
      '',
      'DeviceRollout is running',
      `  Console      ${base}/   (sign in with an admin key)`,
      `  API          ${base}/api/v1   (health: ${base}/health)`,
      `  OpenAPI      ${base}/openapi.json   (docs: ${base}/docs)`,
      `  Temporal UI  ${dev ? `http://localhost:${config.temporalUiPort}` : '(external Temporal: see your cluster UI)'}`,
      `  Metrics      ${base}/metrics   (worker SDK: ${metricsAddress ? `http://${metricsAddress}/metrics` : 'off'})`,
      `  Temporal     ${address}   namespace ${config.temporalNamespace}, task queue ${config.taskQueue}`,
      `  PostgreSQL   ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}`,
      `  Data         ${config.dataDir}`,
    ];
    if (firstKey) {
      lines.push('', '  Admin API key (shown once, store it now):', `    ${firstKey}`);
    }
    lines.push('', 'Press Ctrl-C to stop.', '');
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (err) {
    log.error({ err }, 'start failed');
    await shutdown(1);
  }
}

void main();
