import type { Knex } from 'knex';

/**
 * `signal_outbox` (issue 17): the signals a device request owes an install workflow, written in the
 * request's own statement or transaction and delivered by each API process's dispatcher
 * (services/signal-outbox.ts), so a device request never waits on Temporal.
 * - `dedupe_key`: rows with the same key are one signal (e.g. `downloaded:<job>:<attempt>`, written by
 *   both the ticket download and the device's download-end report); kept after delivery for the
 *   dedupe window, then deleted. Rows without a key are deleted once delivered.
 * - the dispatcher's indexes cover only the undelivered rows (the backlog, small): it claims due rows
 *   in id order (`signal_outbox_pending_idx`) and holds a row back while an earlier row of its
 *   workflow is undelivered (`signal_outbox_workflow_idx`). The retention delete scans the table
 *   (a day of `downloaded` rows) once a minute.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE signal_outbox (
      id bigserial PRIMARY KEY,
      workflow_id text NOT NULL,
      signal text NOT NULL,
      args jsonb NOT NULL DEFAULT '[]'::jsonb,
      dedupe_key text UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      deliver_after timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      delivered_at timestamptz
    )`);
  await knex.raw('CREATE INDEX signal_outbox_pending_idx ON signal_outbox (id) WHERE delivered_at IS NULL');
  await knex.raw('CREATE INDEX signal_outbox_workflow_idx ON signal_outbox (workflow_id, id) WHERE delivered_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE IF EXISTS signal_outbox');
}
