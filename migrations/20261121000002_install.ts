import type { Knex } from 'knex';

/**
 * Install workflow: push tickets are numbered per installation (`attempt`: 0 = the DM package URL,
 * 1… = the n-th push / mark for installation), so that a retried activity finds the ticket it already
 * created instead of minting a second one. NULL for tickets created outside the install workflow.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('push_tickets', (t) => {
    t.integer('attempt');
    t.unique(['installation_id', 'attempt'], { indexName: 'push_tickets_installation_attempt_uq' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('push_tickets', (t) => {
    t.dropUnique(['installation_id', 'attempt'], 'push_tickets_installation_attempt_uq');
    t.dropColumn('attempt');
  });
}
