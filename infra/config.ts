/**
 * Server configuration from the environment. Every key has a default that works for `npm start`;
 * README's configuration table lists them all. Durations accept `90s`, `15m`, `2h`, `7d` or ms.
 */
import path from 'node:path';
import { DURATION_UNITS } from '../domain/duration';

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
  /** The Temporal Web UI the console links to (TEMPORAL_UI_URL); unset: the embedded dev server's. */
  temporalUiUrl?: string;
  /** Unset: start the embedded PostgreSQL (DATABASE_URL). */
  databaseUrl?: string;
  embeddedPostgresPort: number;
  dataDir: string;
  adminApiKey?: string;
  /** Where uploaded software files are stored (FILES_DIR, default DATA_DIR/files). */
  filesDir: string;
  /** Largest software file an upload may carry (SOFTWARE_MAX_BYTES, default 512 MB). */
  softwareMaxBytes: number;
  timeouts: InstallTimeouts;
  /** V3: how long final jobs stay in the Installed table (INSTALLED_RETENTION, default 7d). */
  installedRetentionMs: number;
  /** Hour (UTC) of the daily purge schedule (PURGE_HOUR_UTC, default 3). */
  purgeHourUtc: number;
  /** Temporal's retention of closed workflows, set on the namespace at start-up (NAMESPACE_RETENTION). */
  namespaceRetentionMs?: number;
  /** Shared secret Kannel's delivery-report callbacks must carry as `token` (KANNEL_DLR_TOKEN). */
  dlrToken?: string;
  /** Native OMA DM server (docs/dm.md). */
  dm: DmSettings;
  /** Requests per device token / ticket / client IP on /api/v1/device and /d (DEVICE_RATE_LIMIT); undefined: off. */
  deviceRateLimit?: RateLimitSetting;
}

/** A rate: `limit` requests per `windowMs` (api/rate-limit.ts). */
export interface RateLimitSetting {
  limit: number;
  windowMs: number;
}

/** `120/min`, `10/s`, `5000/h`, `120` (per minute); `off` or `0`: undefined (no limit). */
export function parseRateLimit(value: string, name = 'rate limit'): RateLimitSetting | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === '0' || v === 'none') return undefined;
  const m = /^(\d+)\s*(?:\/\s*(s|sec|second|m|min|minute|h|hour))?$/.exec(v);
  if (!m?.[1]) throw new Error(`${name}: "${value}" is not a rate (e.g. 120/min, 10/s, 5000/h, off)`);
  const limit = Number(m[1]);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`${name}: must be at least 1 (or off)`);
  const unit = (m[2] ?? 'm')[0];
  return { limit, windowMs: unit === 's' ? 1_000 : unit === 'h' ? 3_600_000 : 60_000 };
}

/** OMA DM server settings (DM_SERVER_ID, DM_SECRET_KEY, DM_MAX_MESSAGE_SIZE). */
interface DmSettings {
  /** Server identifier: PROVIDER-ID of the bootstrap, server-identifier of Package #0. */
  serverId: string;
  /** Key that encrypts DM credentials at rest; unset: generated once into DATA_DIR/dm-secret.key. */
  secretKey?: string;
  /** Largest SyncML message the /dm endpoint accepts. */
  maxMessageBytes: number;
}

/** Defaults of the install workflow's waits; a rollout may override them. */
export interface InstallTimeouts {
  bootstrapMs: number;
  dmInstallMs: number;
  /** Software push ticket lifetime (R5). */
  ticketLifetimeMs: number;
  verificationMs: number;
  /** How long a push is retried while the SMS / WAP gateway fails (PUSH_SEND_TIMEOUT). */
  pushSendMs: number;
}

const UNITS: Record<string, number> = DURATION_UNITS;

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

/** A byte size: `1048576`, `512k`, `512MB`, `2G` (binary units). */
export function parseBytes(value: string, name = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(value);
  if (!m?.[1]) throw new Error(`${name}: "${value}" is not a size (e.g. 512MB, 2G, 1048576)`);
  const n = Math.floor(Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()));
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: must be positive`);
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
    temporalUiUrl: env.TEMPORAL_UI_URL ? env.TEMPORAL_UI_URL.replace(/\/+$/, '') : undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    embeddedPostgresPort: int(env, 'EMBEDDED_PG_PORT', 54329),
    dataDir,
    adminApiKey: env.ADMIN_API_KEY || undefined,
    filesDir: path.resolve(env.FILES_DIR || path.join(dataDir, 'files')),
    softwareMaxBytes: parseBytes(env.SOFTWARE_MAX_BYTES || '512MB', 'SOFTWARE_MAX_BYTES'),
    timeouts: {
      bootstrapMs: dur(env, 'BOOTSTRAP_TIMEOUT', '1h'),
      dmInstallMs: dur(env, 'DM_INSTALL_TIMEOUT', '2h'),
      ticketLifetimeMs: dur(env, 'PUSH_TICKET_LIFETIME', '7d'),
      verificationMs: dur(env, 'VERIFICATION_TIMEOUT', '14d'),
      pushSendMs: dur(env, 'PUSH_SEND_TIMEOUT', '24h'),
    },
    installedRetentionMs: dur(env, 'INSTALLED_RETENTION', '7d'),
    purgeHourUtc: Math.min(int(env, 'PURGE_HOUR_UTC', 3), 23),
    dlrToken: env.KANNEL_DLR_TOKEN || undefined,
    namespaceRetentionMs: env.NAMESPACE_RETENTION ? parseDuration(env.NAMESPACE_RETENTION, 'NAMESPACE_RETENTION') : undefined,
    dm: {
      serverId: dmServerId(env.DM_SERVER_ID || 'devicerollout'),
      secretKey: env.DM_SECRET_KEY || undefined,
      maxMessageBytes: parseBytes(env.DM_MAX_MESSAGE_SIZE || '256k', 'DM_MAX_MESSAGE_SIZE'),
    },
    deviceRateLimit: parseRateLimit(env.DEVICE_RATE_LIMIT || '120/min', 'DEVICE_RATE_LIMIT'),
  };
}

function dmServerId(v: string): string {
  const n = Buffer.byteLength(v, 'utf8');
  if (n === 0 || n > 255 || /[\s<>&]/.test(v))
    throw new Error(`DM_SERVER_ID: "${v}" must be 1..255 bytes without spaces, <, > or &`);
  return v;
}
