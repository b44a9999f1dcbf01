import type { Knex } from 'knex';

/**
 * `push_tickets.download_signalled_at`: when the first complete download of the link was delivered to
 * the install workflow as `downloaded`. `downloaded_at` claims the first completion before the signal
 * is sent (and is cleared when it could not be), so only this column tells a device report that the
 * workflow already knows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('push_tickets', (t) => {
    t.timestamp('download_signalled_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('push_tickets', (t) => {
    t.dropColumn('download_signalled_at');
  });
}
