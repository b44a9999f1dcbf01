import type { Knex } from 'knex';

/**
 * `installation_log.signalled_at`: for a device report, when it was delivered to the install workflow
 * (null: not yet). The report's entry is written first and kept; a device that repeats a report
 * whose delivery failed (or is still in flight, e.g. the device's request timed out while Temporal
 * was unreachable) gets it delivered, instead of the repeat being taken for a duplicate.
 * Other log entries leave it null.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('installation_log', (t) => {
    t.timestamp('signalled_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('installation_log', (t) => {
    t.dropColumn('signalled_at');
  });
}
