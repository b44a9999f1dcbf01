import type { Knex } from 'knex';

/**
 * Core schema: admin keys, devices, software (+ files), rollouts, installation jobs with their log,
 * push tickets, the message record (sent SMS / WAP push / mail, one row per idempotency key) and the
 * diagnostics table of the health round trip.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('admin_keys', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('name').notNullable();
    t.text('key_hash').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });

  await knex.schema.createTable('devices', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('external_id').notNullable().unique();
    t.text('platform').notNullable().index();
    t.text('msisdn');
    t.boolean('bootstrapped').notNullable().defaultTo(false);
    t.jsonb('installed').notNullable().defaultTo('{}');
    t.jsonb('info');
    t.text('token_hash').notNullable().unique();
    t.timestamp('last_sync_at', { useTz: true });
    t.timestamp('last_contact_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('software', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('name').notNullable();
    t.text('version').notNullable();
    t.text('kind').notNullable().checkIn(['dme-client', 'other']);
    t.specificType('platforms', 'text[]').notNullable();
    t.boolean('in_house_ios').notNullable().defaultTo(false);
    t.text('bundle_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['name', 'version']);
  });

  await knex.schema.createTable('software_files', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('software_id').notNullable().references('software.id').onDelete('CASCADE').index();
    t.text('file_name').notNullable();
    /** lower-case extension: cab, exe, sis, sisx, ipa, apk, … */
    t.text('format').notNullable();
    t.bigInteger('size').notNullable();
    t.text('sha256').notNullable();
    t.text('storage_path').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('rollouts', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('software_id').notNullable().references('software.id');
    t.jsonb('options').notNullable();
    t.jsonb('schedule').notNullable();
    t.specificType('notify', 'text[]').notNullable().defaultTo('{}');
    t.text('state').notNullable().defaultTo('scheduled');
    t.text('workflow_id');
    t.integer('total').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('completed_at', { useTz: true });
  });

  await knex.schema.createTable('installations', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('rollout_id').notNullable().references('rollouts.id').onDelete('CASCADE');
    t.uuid('device_id').notNullable().references('devices.id');
    /** 0-based order of the device in the rollout: the rollout workflow pages by it. */
    t.integer('seq').notNullable();
    /** One of the SPEC's status strings; null while the install has not started. */
    t.text('status');
    t.boolean('final').notNullable().defaultTo(false);
    /** dm | sms | wap | mark — how the software is being delivered right now */
    t.text('method');
    t.uuid('file_id').references('software_files.id');
    t.text('detail');
    t.text('workflow_id');
    t.timestamp('planned_at', { useTz: true });
    t.timestamp('started_at', { useTz: true });
    t.timestamp('ended_at', { useTz: true });
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['rollout_id', 'device_id']);
    t.unique(['rollout_id', 'seq']);
    t.index(['rollout_id', 'final', 'status']);
    t.index(['device_id']);
  });
  await knex.raw('CREATE INDEX installations_ended_at_idx ON installations (ended_at) WHERE final');

  await knex.schema.createTable('installation_log', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('installation_id').notNullable().references('installations.id').onDelete('CASCADE');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** status | fallback | retry | error | report | push | info */
    t.text('event').notNullable();
    t.text('from_status');
    t.text('to_status');
    t.text('message');
    /** Set by the writer so that a retried activity or a replay never writes the same entry twice. */
    t.text('entry_key').notNullable();
    t.unique(['installation_id', 'entry_key']);
  });

  await knex.schema.createTable('push_tickets', (t) => {
    t.text('ticket').primary();
    t.uuid('installation_id').notNullable().references('installations.id').onDelete('CASCADE').index();
    t.uuid('file_id').notNullable().references('software_files.id');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('downloaded_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('messages', (t) => {
    t.bigIncrements('id').primary();
    t.text('idempotency_key').notNullable().unique();
    /** sms | wap | binary | mail */
    t.text('channel').notNullable();
    t.text('transport').notNullable();
    t.text('recipient').notNullable();
    t.text('content_type');
    t.text('body');
    t.binary('payload');
    t.text('provider_id');
    /** pending | sent | failed | delivered */
    t.text('state').notNullable().defaultTo('pending');
    t.uuid('installation_id').references('installations.id').onDelete('SET NULL').index();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('sent_at', { useTz: true });
  });

  await knex.schema.createTable('diagnostics', (t) => {
    t.bigIncrements('id').primary();
    t.text('workflow_id').notNullable().unique();
    t.text('note').notNullable();
    t.timestamp('written_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'diagnostics',
    'messages',
    'push_tickets',
    'installation_log',
    'installations',
    'rollouts',
    'software_files',
    'software',
    'devices',
    'admin_keys',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
