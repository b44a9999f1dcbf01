/**
 * For the deployable parts (`npm run worker`, `npm run api`): external services, with defaults that
 * match what `npm start` runs (its embedded Temporal on 7233, its embedded PostgreSQL on 54329).
 */
import type { Config } from './config';

export function temporalAddressOf(config: Config): string {
  return config.temporalAddress ?? `127.0.0.1:${config.temporalPort}`;
}

export function databaseUrlOf(config: Config): string {
  return config.databaseUrl ?? `postgres://postgres@127.0.0.1:${config.embeddedPostgresPort}/device_rollout`;
}
