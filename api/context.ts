import type { Client } from '@temporalio/client';
import type { Config } from '../infra/config';
import type { Db } from '../infra/db';

/** What every route module gets. */
export interface ApiContext {
  db: Db;
  temporal: Client;
  config: Config;
  log: (msg: string, err?: unknown) => void;
}
