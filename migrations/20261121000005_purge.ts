import type { Knex } from 'knex';

/**
 * V3: jobs leave the Installed table some days after they ended (INSTALLED_RETENTION, default 7d).
 * The purge only stamps `purged_at`: the job row and its log stay queryable.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('installations', (t) => {
    t.timestamp('purged_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX installations_unpurged_final_idx ON installations (ended_at) WHERE final AND purged_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS installations_unpurged_final_idx');
  await knex.schema.alterTable('installations', (t) => {
    t.dropColumn('purged_at');
  });
}
