import type { Knex } from 'knex';

/**
 * Staged rollouts (issue 14):
 * - rollouts: `groups` (the resolved groups `[{ name, from, size }]`, seq ranges in planned order; null:
 *   one group), `safety` (thresholds, minFinished, approval), `paused_reason` (`admin` |
 *   `error-threshold`, written by the workflow with the state), `approved_groups` (indexes approved);
 * - installations: `group_index`, the job's group (0 without groups).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('rollouts', (t) => {
    t.jsonb('groups');
    t.jsonb('safety');
    t.text('paused_reason');
    t.specificType('approved_groups', 'integer[]').notNullable().defaultTo('{}');
  });
  await knex.schema.alterTable('installations', (t) => {
    t.integer('group_index').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('installations', (t) => {
    t.dropColumn('group_index');
  });
  await knex.schema.alterTable('rollouts', (t) => {
    t.dropColumn('approved_groups');
    t.dropColumn('paused_reason');
    t.dropColumn('safety');
    t.dropColumn('groups');
  });
}
