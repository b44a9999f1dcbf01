import type { Knex } from 'knex';

/**
 * Native OMA DM server: one row per device that has a DM account on this server.
 *  - `client_username`: the account's AAUTHNAME (CLIENT level), unique: the endpoint finds the device
 *    by it (SyncHdr Source/LocName or the x-syncml-hmac username);
 *  - `device_uri`: the SyncHdr Source LocURI the device authenticated with (e.g. IMEI:…), learned at
 *    its first authenticated session;
 *  - `client_secret` / `server_secret`: the two passwords, AES-256-GCM encrypted (DM_SECRET_KEY);
 *    both are needed in clear at run time (md5 digests, Package #0 digest), so they are encrypted,
 *    not hashed;
 *  - `state`: the protocol state (omadm/session-model.ts DmDeviceState) WITHOUT the passwords: nonces,
 *    bootstrap flag, the pending SCOMO install job, the current session's scratch;
 *  - `bootstrap_key`: idempotency key of the bootstrap that created the current credentials (a retried
 *    bootstrap re-sends the same account instead of minting a new one).
 * The endpoint reads and writes a row under `SELECT … FOR UPDATE`, so messages of one device serialize
 * and any API instance can serve the next message of a session.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('dm_devices', (t) => {
    t.uuid('device_id').primary().references('devices.id').onDelete('CASCADE');
    t.text('client_username').notNullable().unique();
    t.text('device_uri').index();
    t.text('client_secret').notNullable();
    t.text('server_secret');
    t.jsonb('state').notNullable();
    t.text('bootstrap_key');
    t.timestamp('bootstrap_sent_at', { useTz: true });
    t.timestamp('bootstrapped_at', { useTz: true });
    t.timestamp('last_session_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('dm_devices');
}
