/**
 * The parts of DeviceRollout as REAL child processes that a fault test can kill, stop and start
 * again: PostgreSQL (stopped and started on the same data dir and port), the Temporal dev server
 * (stopped and started on the same SQLite file and port), the worker and the API (`node --import tsx
 * worker/main.ts` / `api/main.ts`, one process each — no tsx relay process in between, so a SIGKILL
 * hits the worker itself), and small restartable stand-ins for the SMS gateway (Kannel's sendsms
 * interface) and the SMTP server, on fixed ports.
 *
 * Every process is started and stopped by its pid, never by name.
 */
import http from 'node:http';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { freePort, type RestartableProcess, restartableProcess } from '../../devstack/child-process';
import { type DevServer, startDevServer } from '../../devstack/dev-server';
import { type EmbeddedPostgres, startPostgres } from '../../devstack/postgres';

const ROOT = path.resolve(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface PostgresProcess {
  readonly port: number;
  readonly dataDir: string;
  /** URL of database `name` (default device_rollout). */
  url(name?: string): string;
  running(): boolean;
  /** pg_ctl stop -m fast (connections are cut). */
  stop(): Promise<void>;
  /** Starts it again on the same data dir and port. */
  start(): Promise<void>;
}

export async function startPostgresProcess(opts: { dataDir: string; port?: number }): Promise<PostgresProcess> {
  const port = opts.port ?? (await freePort());
  let pg: EmbeddedPostgres | undefined = await startPostgres({ dataDir: opts.dataDir, port });
  return {
    port,
    dataDir: opts.dataDir,
    url: (name = 'device_rollout') => `postgres://postgres@127.0.0.1:${port}/${name}`,
    running: () => pg !== undefined,
    async stop() {
      const p = pg;
      pg = undefined;
      await p?.stop();
    },
    async start() {
      if (pg) return;
      pg = await startPostgres({ dataDir: opts.dataDir, port });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Temporal dev server

export interface TemporalProcess {
  readonly address: string;
  readonly port: number;
  running(): boolean;
  /** SIGTERM (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** Starts it again on the same SQLite file and port. */
  start(): Promise<void>;
}

export async function startTemporalProcess(opts: { dbFile: string; logFile: string; port?: number }): Promise<TemporalProcess> {
  const port = opts.port ?? (await freePort());
  const launch = () => startDevServer({ port, dbFile: opts.dbFile, logFile: opts.logFile });
  let dev: DevServer | undefined = await launch();
  return {
    address: `127.0.0.1:${port}`,
    port,
    running: () => dev !== undefined,
    async stop() {
      const d = dev;
      dev = undefined;
      await d?.stop();
    },
    async start() {
      if (dev) return;
      dev = await launch();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Worker and API (node + tsx, configured by environment)

/** A worker or API process of the fault and cluster tests. */
export type NodeProcess = RestartableProcess;

export function nodeProcess(opts: {
  name: string;
  /** Entry, relative to the project root (e.g. worker/main.ts). */
  script: string;
  env: Record<string, string>;
  logFile: string;
  /** Readiness check, polled after each start. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}): NodeProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // the test runner's own settings must not leak into the child
  for (const k of ['VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'NODE_OPTIONS', 'TEST']) delete env[k];
  return restartableProcess({
    name: opts.name,
    command: process.execPath,
    args: ['--import', 'tsx', opts.script],
    env,
    cwd: ROOT,
    logFile: opts.logFile,
    ready: opts.ready,
    ...(opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs }),
  });
}

/** The common environment of worker and API (README's configuration). */
export function serviceEnv(o: {
  temporalAddress: string;
  databaseUrl: string;
  adminKey: string;
  apiPort: number;
  taskQueue: string;
  dataDir: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: o.temporalAddress,
    DATABASE_URL: o.databaseUrl,
    ADMIN_API_KEY: o.adminKey,
    PORT: String(o.apiPort),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${o.apiPort}`,
    TEMPORAL_TASK_QUEUE: o.taskQueue,
    DATA_DIR: o.dataDir,
    DM_SECRET_KEY: 'fault-tests-dm-secret',
    WORKER_METRICS_ADDRESS: 'off',
    LOG_LEVEL: 'warn',
    TEMPORAL_LOG_LEVEL: 'ERROR',
    ...o.extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Gateways

/** Something that listens on a fixed port and can go away and come back. */
interface Restartable {
  readonly port: number;
  up(): boolean;
  start(): Promise<void>;
  /** Closes the port and cuts open connections. */
  stop(): Promise<void>;
}

function restartableHttp(port: number, handler: http.RequestListener): Restartable {
  let server: http.Server | undefined;
  return {
    port,
    up: () => !!server,
    async start() {
      if (server) return;
      const s = http.createServer(handler);
      s.keepAliveTimeout = 1_000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}

/** One request to the fake sendsms interface. */
interface SendsmsRequest {
  at: number;
  to: string;
  text: string;
  /** The message's idempotency key, read from the dlr-url the channel adds (KANNEL_DLR_URL). */
  key: string | undefined;
  username: string | undefined;
}

export interface FakeSendsms extends Restartable {
  readonly url: string;
  readonly received: SendsmsRequest[];
  /** Called for every accepted SMS (the network delivers it to the device). */
  onSms?: (sms: SendsmsRequest) => void;
}

/**
 * Kannel's smsbox `GET /cgi-bin/sendsms` as far as the push channel uses it: answers `0: Accepted
 * for delivery` (202) for a request with the right user, 403 otherwise; records every request.
 */
export async function startFakeSendsms(opts: { port?: number; username: string; password: string }): Promise<FakeSendsms> {
  const port = opts.port ?? (await freePort());
  const received: SendsmsRequest[] = [];
  let onSms: ((sms: SendsmsRequest) => void) | undefined;
  const base = restartableHttp(port, (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/cgi-bin/sendsms') {
      res.writeHead(404).end('Not found');
      return;
    }
    if (u.searchParams.get('username') !== opts.username || u.searchParams.get('password') !== opts.password) {
      res.writeHead(403).end('Authorization failed for sendsms');
      return;
    }
    const dlr = u.searchParams.get('dlr-url');
    // the channel doubles literal % for Kannel's escapes; undo that to read the key
    const key = dlr ? (new URL(dlr.replace(/%%/g, '%')).searchParams.get('key') ?? undefined) : undefined;
    const sms: SendsmsRequest = {
      at: Date.now(),
      to: u.searchParams.get('to') ?? '',
      text: u.searchParams.get('text') ?? '',
      key,
      username: u.searchParams.get('username') ?? undefined,
    };
    received.push(sms);
    res.writeHead(202, { 'content-type': 'text/plain' }).end('0: Accepted for delivery');
    onSms?.(sms);
  });
  const api: FakeSendsms = {
    ...base,
    url: `http://127.0.0.1:${port}/cgi-bin/sendsms`,
    received,
    get onSms() {
      return onSms;
    },
    set onSms(f) {
      onSms = f;
    },
  };
  await api.start();
  return api;
}

interface ReceivedMailSummary {
  at: number;
  from: string;
  to: string[];
  /** Raw message (headers + body). */
  raw: string;
  subject: string;
}

export interface RestartableSmtp extends Restartable {
  readonly url: string;
  readonly received: ReceivedMailSummary[];
}

/** A plain SMTP server (no TLS, no auth) on a fixed port that can be stopped and started again. */
export async function startRestartableSmtp(opts: { port?: number } = {}): Promise<RestartableSmtp> {
  const port = opts.port ?? (await freePort());
  const received: ReceivedMailSummary[] = [];
  let server: SMTPServer | undefined;
  const api: RestartableSmtp = {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    up: () => !!server,
    async start() {
      if (server) return;
      const s = new SMTPServer({
        secure: false,
        disabledCommands: ['STARTTLS', 'AUTH'],
        authOptional: true,
        logger: false,
        onData(stream, session, cb) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            const subject = /^Subject:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
            received.push({
              at: Date.now(),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              raw,
              subject,
            });
            cb();
          });
        },
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    async stop() {
      const s = server;
      server = undefined;
      if (!s) return;
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await api.start();
  return api;
}
