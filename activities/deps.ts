import type { DmEngine, Mailer, PushChannel } from '../domain/ports';
import type { Config } from '../infra/config';
import type { Db } from '../infra/db';

/** What activities get injected: the only way they reach the outside world. */
export interface ActivityDeps {
  db: Db;
  config: Config;
  push?: PushChannel;
  mailer?: Mailer;
  dm?: DmEngine;
}
