/** `npm run worker`: the Temporal worker alone (deployment), against TEMPORAL_ADDRESS and DATABASE_URL. */
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';
import { logger } from '../infra/logger';
import { startWorker } from '../infra/runtime';
import { databaseUrlOf, temporalAddressOf } from '../infra/services';

async function main() {
  const config = loadConfig();
  const db = createDb(databaseUrlOf(config));
  await migrate(db);
  const worker = await startWorker(config, temporalAddressOf(config), db);
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
