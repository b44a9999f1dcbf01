/** `npm run api`: the HTTP API alone (deployment), against TEMPORAL_ADDRESS and DATABASE_URL. */

import { closeServer, connectClient, startApi } from '../app/runtime';
import { databaseUrlOf, temporalAddressOf } from '../infra/addresses';
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';
import { logger } from '../infra/logger';
import { ensureFirstAdminKey } from '../services/secrets';

async function main() {
  const config = loadConfig();
  const db = createDb(databaseUrlOf(config));
  await migrate(db);
  const client = await connectClient(config, temporalAddressOf(config));
  const server = await startApi(config, client, db, logger.child({ part: 'api' }));
  logger.info({ port: config.port, host: config.host }, 'API listening');
  const firstKey = await ensureFirstAdminKey(db, config.adminApiKey);
  if (firstKey) process.stdout.write(`\nAdmin API key (shown once, store it now):\n  ${firstKey}\n\n`);
  const stop = async () => {
    await closeServer(server);
    await client.connection.close();
    await db.destroy();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  logger.error({ err }, 'api failed');
  process.exit(1);
});
