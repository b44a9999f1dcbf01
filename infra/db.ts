import knex, { type Knex } from 'knex';
import { migrationSource } from '../migrations';

export type Db = Knex;

export function createDb(url: string, opts: { poolMax?: number } = {}): Db {
  return knex({
    client: 'pg',
    connection: { connectionString: url, application_name: 'device-rollout' },
    pool: { min: 0, max: opts.poolMax ?? 10 },
    acquireConnectionTimeout: 10_000,
  });
}

/** Applies every pending migration; safe to run from several processes (knex takes a lock). */
export async function migrate(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}
