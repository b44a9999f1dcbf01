import type { Knex } from 'knex';

/**
 * Retry and reports (issue 14):
 * - rollouts: `retry_of`, the rollout a retry was made from (`POST /rollouts/:id/retry`);
 * - the rollout list, newest first (`GET /rollouts?state=`), keyset-paged on (created_at, id);
 * - the report's failure reasons (the last error of a job's log) on an index of the error entries.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('rollouts', (t) => {
    t.uuid('retry_of').references('rollouts.id').onDelete('SET NULL');
  });
  await knex.raw('CREATE INDEX rollouts_retry_of_idx ON rollouts (retry_of) WHERE retry_of IS NOT NULL');
  await knex.raw('CREATE INDEX rollouts_created_idx ON rollouts (created_at DESC, id DESC)');
  await knex.raw('CREATE INDEX rollouts_state_created_idx ON rollouts (state, created_at DESC, id DESC)');
  await knex.raw("CREATE INDEX installation_log_errors_idx ON installation_log (installation_id, id DESC) WHERE event = 'error'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS installation_log_errors_idx');
  await knex.raw('DROP INDEX IF EXISTS rollouts_state_created_idx');
  await knex.raw('DROP INDEX IF EXISTS rollouts_created_idx');
  await knex.raw('DROP INDEX IF EXISTS rollouts_retry_of_idx');
  await knex.schema.alterTable('rollouts', (t) => {
    t.dropColumn('retry_of');
  });
}
