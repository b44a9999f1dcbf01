/**
 * `npm run cluster`: DeviceRollout on a real multi-process Temporal cluster, on loopback —
 * PostgreSQL with Temporal's persistence and SQL visibility schemas, the Temporal services frontend,
 * history, matching and worker as separate processes from one config file, the namespace and the
 * custom search attributes, then two DeviceRollout workers and two API instances (devstack/cluster.ts).
 * Data in `$DATA_DIR/cluster` (default ./.data/cluster), kept across starts. Ctrl-C stops every part.
 *
 * CLUSTER_WORKERS / CLUSTER_APIS (default 2 / 2), CLUSTER_API_PORTS (e.g. `3000,3001`; default free
 * ports), CLUSTER_TEMPORAL_PORT (frontend; default a free port). The other variables of the README's
 * configuration are passed to the instances (PUSH_TRANSPORT, ADMIN_API_KEY …).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ScaledApp, startScaledApp, startTemporalCluster, type TemporalCluster } from '../devstack/cluster';
import { loadConfig } from '../infra/config';
import { createDb, migrate } from '../infra/db';
import { loadDmSecretKey } from '../omadm/store';
import { ensureFirstAdminKey } from '../services/secrets';

const say = (line: string) => process.stdout.write(`[cluster] ${line}\n`);

function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (!v) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v}: expected a whole number`);
  return n;
}

async function main() {
  const config = loadConfig();
  const dir = path.join(config.dataDir, 'cluster');
  await fs.mkdir(dir, { recursive: true });
  let cluster: TemporalCluster | undefined;
  let app: ScaledApp | undefined;
  let stopping = false;
  const aborter = new AbortController();
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    aborter.abort();
    // a start under way stops what it has started, then fails
    await starting.catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  const start = async () => {
    const apiPorts = (process.env.CLUSTER_API_PORTS ?? '')
      .split(',')
      .filter(Boolean)
      .map((p) => Number(p));
    cluster = await startTemporalCluster({
      dir: path.join(dir, 'engine'),
      namespace: config.temporalNamespace,
      frontendPort: process.env.CLUSTER_TEMPORAL_PORT ? Number(process.env.CLUSTER_TEMPORAL_PORT) : undefined,
      log: say,
      signal: aborter.signal,
    });
    const appDataDir = path.join(dir, 'app');
    await fs.mkdir(appDataDir, { recursive: true });
    // before the instances start: one migration, one first key, one DM key file for all of them
    const db = createDb(cluster.pgUrl('device_rollout'));
    let firstKey: string | undefined;
    try {
      await migrate(db);
      firstKey = await ensureFirstAdminKey(db, config.adminApiKey);
    } finally {
      await db.destroy();
    }
    if (!process.env.DM_SECRET_KEY) await loadDmSecretKey({ dataDir: appDataDir });
    say('DeviceRollout workers and API instances…');
    app = await startScaledApp({
      cluster,
      dataDir: appDataDir,
      logDir: path.join(dir, 'logs'),
      workers: intEnv('CLUSTER_WORKERS', 2),
      apis: intEnv('CLUSTER_APIS', 2),
      apiPorts: apiPorts.length ? apiPorts : undefined,
      signal: aborter.signal,
      env: { NAMESPACE_RETENTION: process.env.NAMESPACE_RETENTION ?? '30d' },
    });
    const lines = [
      '',
      'DeviceRollout is running on a Temporal cluster',
      ...app.apis.map((a, i) => `  API ${i + 1}        ${a.baseUrl}/api/v1   (pid ${a.process.pid()})`),
      ...app.workers.map((w, i) => `  worker ${i + 1}     pid ${w.process.pid()}`),
      `  Temporal     ${cluster.address}   namespace ${cluster.namespace}`,
      ...Object.entries(cluster.services).map(([name, p]) => `    ${name.padEnd(10)} pid ${p.pid()}`),
      `  PostgreSQL   ${cluster.pgUrl('device_rollout')}   (Temporal: databases temporal, temporal_visibility)`,
      `  config       ${cluster.configFile}`,
      `  Data, logs   ${dir}`,
      `  simulator    npm run simulate -- --api ${app.baseUrls.join(',')} --admin-key <admin key> …`,
    ];
    if (firstKey) lines.push('', '  Admin API key (shown once, store it now):', `    ${firstKey}`);
    lines.push('', 'Press Ctrl-C to stop.', '');
    process.stdout.write(`${lines.join('\n')}\n`);
  };
  const starting = start();
  try {
    await starting;
  } catch (err) {
    if (stopping) return;
    process.stderr.write(`cluster start failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await shutdown(1);
  }
}

void main();
