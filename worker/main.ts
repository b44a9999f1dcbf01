/** `npm run worker`: the Temporal worker alone (deployment), against TEMPORAL_ADDRESS and DATABASE_URL. */

import { connectClient, startWorker } from '../app/runtime';
import { databaseUrlOf, temporalAddressOf } from '../infra/addresses';
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';
import { logger } from '../infra/logger';
import { setNamespaceRetention } from '../infra/namespace';
import { ensurePurgeSchedule } from '../infra/schedules';
import { installRuntime } from '../infra/telemetry';
import { limitHeapGrowth } from './heap';

async function main() {
  limitHeapGrowth();
  installRuntime();
  const config = loadConfig();
  const db = createDb(databaseUrlOf(config));
  await migrate(db);
  const worker = await startWorker(config, temporalAddressOf(config), db);
  const client = await connectClient(config, temporalAddressOf(config));
  if (config.namespaceRetentionMs) await setNamespaceRetention(client, config.temporalNamespace, config.namespaceRetentionMs);
  await ensurePurgeSchedule(client, config);
  await client.connection.close();
  logger.info({ taskQueue: config.taskQueue, temporal: temporalAddressOf(config) }, 'worker running');
  const stop = async () => {
    await worker.close();
    await db.destroy();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await worker.done;
  await db.destroy().catch(() => undefined);
}

main().catch((err) => {
  logger.error({ err }, 'worker failed');
  process.exit(1);
});
