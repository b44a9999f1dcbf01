import type { Knex } from 'knex';

/**
 * Device HTTP API: the admin lists page in registration order by (created_at, id), so both lists
 * get an index on that key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX IF NOT EXISTS devices_created_at_id_idx ON devices (created_at, id)');
  await knex.raw('CREATE INDEX IF NOT EXISTS software_created_at_id_idx ON software (created_at, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS software_created_at_id_idx');
  await knex.raw('DROP INDEX IF EXISTS devices_created_at_id_idx');
}
