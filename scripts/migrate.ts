/** `npm run migrate`: applies pending migrations to DATABASE_URL (default: the embedded PostgreSQL). */

import { databaseUrlOf } from '../infra/addresses';
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';

async function main() {
  const db = createDb(databaseUrlOf(loadConfig()));
  try {
    const applied = await migrate(db);
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  process.stderr.write(`migrate failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
