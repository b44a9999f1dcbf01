import type { Client } from '@temporalio/client';
import type { Config } from '../infra/config';
import type { Db } from '../infra/db';
import type { Logger } from '../infra/logger';

/** What every route module gets. */
export interface ApiContext {
  db: Db;
  temporal: Client;
  config: Config;
  log: (msg: string, err?: unknown) => void;
  /** Structured request log (one JSON line per request with the domain ids); none in tests. */
  logger?: Logger;
  /**
   * This process's signal outbox dispatcher (services/signal-outbox.ts), nudged when a device request
   * queued a signal; without one, the signals wait for a dispatcher's poll.
   */
  signalOutbox?: { nudge(): void };
}
