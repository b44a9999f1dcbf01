/**
 * Server configuration from the environment. Every key has a default that works for `npm start`;
 * README's configuration table lists them all. Durations accept `90s`, `15m`, `2h`, `7d` or ms.
 */
import path from 'node:path';

export interface Config {
  /** API port (PORT). */
  port: number;
  /** API bind address (HOST). */
  host: string;
  /** Base URL devices use for links (PUBLIC_URL). */
  publicUrl: string;
  /** Unset: start the embedded dev server (TEMPORAL_ADDRESS). */
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  /** Ports of the embedded dev server. */
  temporalPort: number;
  temporalUiPort: number;
  /** Unset: start the embedded PostgreSQL (DATABASE_URL). */
  databaseUrl?: string;
  embeddedPostgresPort: number;
  dataDir: string;
  adminApiKey?: string;
  /** Where uploaded software files are stored (FILES_DIR, default DATA_DIR/files). */
  filesDir: string;
  timeouts: InstallTimeouts;
}

/** Defaults of the install workflow's waits; a rollout may override them. */
export interface InstallTimeouts {
  bootstrapMs: number;
  dmInstallMs: number;
  /** Software push ticket lifetime (R5). */
  ticketLifetimeMs: number;
  verificationMs: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string, name = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m?.[1]) throw new Error(`${name}: "${value}" is not a duration (e.g. 90s, 15m, 2h, 7d)`);
  const ms = Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`${name}: must be positive`);
  return Math.round(ms);
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}: "${v}" is not a valid port/number`);
  return n;
}

function dur(env: NodeJS.ProcessEnv, name: string, dflt: string): number {
  return parseDuration(env[name] || dflt, name);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = int(env, 'PORT', 3000);
  const dataDir = path.resolve(env.DATA_DIR || '.data');
  return {
    port,
    host: env.HOST || '127.0.0.1',
    publicUrl: (env.PUBLIC_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
    temporalAddress: env.TEMPORAL_ADDRESS || undefined,
    temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE || 'device-rollout',
    temporalPort: int(env, 'TEMPORAL_PORT', 7233),
    temporalUiPort: int(env, 'TEMPORAL_UI_PORT', 8233),
    databaseUrl: env.DATABASE_URL || undefined,
    embeddedPostgresPort: int(env, 'EMBEDDED_PG_PORT', 54329),
    dataDir,
    adminApiKey: env.ADMIN_API_KEY || undefined,
    filesDir: path.resolve(env.FILES_DIR || path.join(dataDir, 'files')),
    timeouts: {
      bootstrapMs: dur(env, 'BOOTSTRAP_TIMEOUT', '1h'),
      dmInstallMs: dur(env, 'DM_INSTALL_TIMEOUT', '2h'),
      ticketLifetimeMs: dur(env, 'PUSH_TICKET_LIFETIME', '7d'),
      verificationMs: dur(env, 'VERIFICATION_TIMEOUT', '14d'),
    },
  };
}
