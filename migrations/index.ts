/**
 * The migration list, imported statically so the same code runs under tsx, vitest and compiled
 * JavaScript (no directory scanning, no loader for .ts files). Append new migrations at the end;
 * never rename or reorder applied ones.
 */
import type { Knex } from 'knex';
import * as core from './20261121000001_core';
import * as install from './20261121000002_install';
import * as deviceHttp from './20261121000003_device_http';
import * as purge from './20261121000005_purge';
import * as dm from './20261121000006_dm';
import * as downloadSignalled from './20261121000007_download_signalled';
import * as reportSignalled from './20261121000008_report_signalled';
import * as fleet from './20261201000009_fleet';
import * as groups from './20261202000010_groups';
import * as retry from './20261202000011_retry';
import * as signalOutbox from './20261202000012_signal_outbox';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

// biome-ignore format: one migration per line, in order
const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: Migration]> = [
  ['20261121000001_core', core],
  ['20261121000002_install', install],
  ['20261121000003_device_http', deviceHttp],
  ['20261121000005_purge', purge],
  ['20261121000006_dm', dm],
  ['20261121000007_download_signalled', downloadSignalled],
  ['20261121000008_report_signalled', reportSignalled],
  ['20261201000009_fleet', fleet],
  ['20261202000010_groups', groups],
  ['20261202000011_retry', retry],
  ['20261202000012_signal_outbox', signalOutbox],
];

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};
