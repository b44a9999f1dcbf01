import type { Knex } from 'knex';

/**
 * Fleet management and access control:
 * - devices: `tags` (GIN), `retired_at`, and `device_history` (every change made through the API);
 * - `device_software`: one row per (device, reported software) kept from `devices.installed` by a
 *   trigger, with `version_key` — a byte-comparable key (COLLATE "C") of the version in the order of
 *   domain/version.ts `compareVersions` (R8) — so `installed: { name, below }` filters run on an index;
 * - rollouts: `filter`, the device filter a rollout was made from;
 * - admin_keys: `role` (admin | operator | viewer) and `expires_at`;
 * - `audit_log`: append-only record of the admin requests that change state or are refused.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('devices', (t) => {
    t.specificType('tags', 'text[]').notNullable().defaultTo('{}');
    t.timestamp('retired_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX devices_tags_idx ON devices USING gin (tags)');
  await knex.raw('CREATE INDEX devices_last_contact_idx ON devices (last_contact_at)');
  await knex.raw('CREATE INDEX devices_created_idx ON devices (created_at, id)');

  await knex.schema.createTable('device_history', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('device_id').notNullable().references('devices.id').index();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** updated | token-rotated | retired */
    t.text('event').notNullable();
    /** field → { from, to } */
    t.jsonb('changes').notNullable().defaultTo('{}');
    t.uuid('admin_key_id');
    t.text('admin_key_name');
  });

  // The version key (see domain/version.ts for the order it encodes). Tokens: digit runs and letter
  // runs of the lower-cased version; label words dropped; trailing zeros dropped. Per token:
  //   pre-release '1'<rank> · zero '2' + 'A'|'Z' (the next non-zero token is a pre-release | other)
  //   · word '3'<word>'!' · positive number '4'<digits of length><length><digits>; the end is '2M'
  //   (padding zeros: above a zero before a pre-release, below a zero before anything else).
  await knex.raw(`
    CREATE FUNCTION dr_version_key(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
    DECLARE
      parts text[];
      kinds text[] := '{}';
      vals text[] := '{}';
      p text; nxt text; i int; j int; n int; out text := ''; digits text; len text;
    BEGIN
      SELECT coalesce(array_agg(m[1] ORDER BY ord), '{}') INTO parts
        FROM regexp_matches(lower(btrim(v)), '([0-9]+|[a-z]+)', 'g') WITH ORDINALITY AS r(m, ord);
      n := coalesce(array_length(parts, 1), 0);
      FOR i IN 1..n LOOP
        p := parts[i];
        nxt := CASE WHEN i < n THEN parts[i + 1] END;
        IF p ~ '^[0-9]' THEN
          digits := ltrim(p, '0');
          IF digits = '' THEN kinds := kinds || 'z'::text; vals := vals || ''::text;
          ELSE kinds := kinds || 'n'::text; vals := vals || digits; END IF;
        ELSIF p IN ('build', 'rev', 'revision', 'r', 'release', 'ver', 'version', 'v') THEN
          NULL;
        ELSIF p IN ('dev', 'snapshot', 'alpha', 'beta', 'milestone', 'pre', 'preview', 'rc', 'cr')
           OR (p = 'm' AND nxt IS NOT NULL AND nxt ~ '^[0-9]') THEN
          kinds := kinds || 'p'::text;
          vals := vals || (CASE p WHEN 'dev' THEN '0' WHEN 'snapshot' THEN '0' WHEN 'alpha' THEN '1' WHEN 'beta' THEN '2'
                     WHEN 'milestone' THEN '3' WHEN 'm' THEN '3' WHEN 'pre' THEN '4' WHEN 'preview' THEN '4' ELSE '5' END);
        ELSIF p IN ('a', 'b') AND nxt IS NOT NULL AND nxt ~ '^[0-9]' AND i > 1 THEN
          kinds := kinds || 'p'::text; vals := vals || (CASE p WHEN 'a' THEN '1' ELSE '2' END);
        ELSE
          kinds := kinds || 'w'::text; vals := vals || p;
        END IF;
      END LOOP;
      n := coalesce(array_length(kinds, 1), 0);
      WHILE n > 0 AND kinds[n] = 'z' LOOP n := n - 1; END LOOP;
      FOR i IN 1..n LOOP
        IF kinds[i] = 'p' THEN out := out || '1' || vals[i];
        ELSIF kinds[i] = 'z' THEN
          j := i + 1;
          WHILE kinds[j] = 'z' LOOP j := j + 1; END LOOP;
          out := out || '2' || CASE WHEN kinds[j] = 'p' THEN 'A' ELSE 'Z' END;
        ELSIF kinds[i] = 'w' THEN out := out || '3' || vals[i] || '!';
        ELSE
          len := length(vals[i])::text;
          out := out || '4' || length(len)::text || len || vals[i];
        END IF;
      END LOOP;
      RETURN out || '2M';
    END $$`);

  await knex.raw(`
    CREATE TABLE device_software (
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      name_norm text NOT NULL,
      version text NOT NULL,
      version_key text COLLATE "C" NOT NULL GENERATED ALWAYS AS (dr_version_key(version)) STORED,
      PRIMARY KEY (device_id, name_norm)
    )`);
  await knex.raw('CREATE INDEX device_software_name_key_idx ON device_software (name_norm, version_key)');

  // R8's name match: exact key first, else case- and blank-insensitive; blank versions are "not installed".
  await knex.raw(`
    CREATE FUNCTION dr_device_software_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN DELETE FROM device_software WHERE device_id = NEW.id; END IF;
      INSERT INTO device_software (device_id, name_norm, version)
      SELECT DISTINCT ON (lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')))
             NEW.id, lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')), btrim(e.value)
        FROM jsonb_each_text(CASE WHEN jsonb_typeof(NEW.installed) = 'object' THEN NEW.installed ELSE '{}'::jsonb END) e
       WHERE e.value IS NOT NULL AND btrim(e.value) <> ''
       ORDER BY lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')), e.key;
      RETURN NEW;
    END $$`);
  // WHEN clauses: a device registered without inventory, or an update leaving it, costs no call
  await knex.raw(`CREATE TRIGGER devices_software_insert AFTER INSERT ON devices
    FOR EACH ROW WHEN (NEW.installed IS DISTINCT FROM '{}'::jsonb) EXECUTE FUNCTION dr_device_software_sync()`);
  await knex.raw(`CREATE TRIGGER devices_software_update AFTER UPDATE OF installed ON devices
    FOR EACH ROW WHEN (NEW.installed IS DISTINCT FROM OLD.installed) EXECUTE FUNCTION dr_device_software_sync()`);
  await knex.raw(`INSERT INTO device_software (device_id, name_norm, version)
    SELECT DISTINCT ON (d.id, lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')))
           d.id, lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')), btrim(e.value)
      FROM devices d, jsonb_each_text(CASE WHEN jsonb_typeof(d.installed) = 'object' THEN d.installed ELSE '{}'::jsonb END) e
     WHERE e.value IS NOT NULL AND btrim(e.value) <> ''
     ORDER BY d.id, lower(regexp_replace(btrim(e.key), '\\s+', ' ', 'g')), e.key`);

  await knex.schema.alterTable('rollouts', (t) => {
    t.jsonb('filter');
  });

  await knex.schema.alterTable('admin_keys', (t) => {
    t.text('role').notNullable().defaultTo('admin').checkIn(['admin', 'operator', 'viewer']);
    t.timestamp('expires_at', { useTz: true });
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** null for ADMIN_API_KEY (key name 'ADMIN_API_KEY') and for requests without a valid key */
    t.uuid('key_id');
    t.text('key_name');
    t.text('role');
    t.text('method').notNullable();
    t.text('route').notNullable();
    t.text('path').notNullable();
    t.specificType('target_ids', 'text[]').notNullable().defaultTo('{}');
    t.integer('status').notNullable();
    t.jsonb('body');
  });
  await knex.raw('CREATE INDEX audit_log_key_idx ON audit_log (key_id, id)');
  await knex.raw('CREATE INDEX audit_log_targets_idx ON audit_log USING gin (target_ids)');
  await knex.raw('CREATE INDEX audit_log_at_idx ON audit_log (at)');
  // the API never changes a record: the table refuses it
  await knex.raw(`CREATE FUNCTION dr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`);
  await knex.raw(`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION dr_audit_append_only()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_log');
  await knex.raw('DROP FUNCTION IF EXISTS dr_audit_append_only()');
  await knex.schema.alterTable('admin_keys', (t) => {
    t.dropColumn('role');
    t.dropColumn('expires_at');
  });
  await knex.schema.alterTable('rollouts', (t) => {
    t.dropColumn('filter');
  });
  await knex.raw('DROP TRIGGER IF EXISTS devices_software_insert ON devices');
  await knex.raw('DROP TRIGGER IF EXISTS devices_software_update ON devices');
  await knex.raw('DROP FUNCTION IF EXISTS dr_device_software_sync()');
  await knex.schema.dropTableIfExists('device_software');
  await knex.raw('DROP FUNCTION IF EXISTS dr_version_key(text)');
  await knex.schema.dropTableIfExists('device_history');
  await knex.raw('DROP INDEX IF EXISTS devices_tags_idx');
  await knex.raw('DROP INDEX IF EXISTS devices_last_contact_idx');
  await knex.raw('DROP INDEX IF EXISTS devices_created_idx');
  await knex.schema.alterTable('devices', (t) => {
    t.dropColumn('tags');
    t.dropColumn('retired_at');
  });
}
