/**
 * Obtains real Temporal servers without the SDK's internet download:
 *  - the dev server (Temporal CLI, `temporal server start-dev`), built from the Go module proxy;
 *  - the time-skipping test server (Java), resolved from Maven Central via tools/temporal-test-server/pom.xml.
 * Both are cached outside the repo, keyed by version, so only the first run pays for the build.
 * `TEMPORAL_CLI_PATH` / `TEMPORAL_TEST_SERVER_PATH` point at existing executables instead.
 * On a machine without Go (or Java + Maven) the SDK's own cached download is used (needs internet).
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Releases from 1.6 carry a `replace` directive that `go install pkg@version` refuses. */
const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export const PROJECT_ROOT = path.resolve(__dirname, '..');
const TEST_SERVER_POM = path.join(PROJECT_ROOT, 'tools', 'temporal-test-server', 'pom.xml');

export type ServerExecutable = { type: 'existing-path'; path: string } | { type: 'cached-download'; downloadDir?: string };

function cacheRoot(): string {
  if (process.env.DEVICE_ROLLOUT_CACHE) return process.env.DEVICE_ROLLOUT_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'device-rollout');
}

async function hasCommand(cmd: string, args: string[] = ['--version']): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

function log(message: string): void {
  process.stderr.write(`[temporal-servers] ${message}\n`);
}

/** Path of the Temporal CLI, building it with `go install` on first use. */
export async function ensureTemporalCli(): Promise<ServerExecutable> {
  const override = process.env.TEMPORAL_CLI_PATH;
  if (override) {
    if (!existsSync(override)) throw new Error(`TEMPORAL_CLI_PATH=${override} does not exist`);
    return { type: 'existing-path', path: override };
  }
  const dir = path.join(cacheRoot(), 'temporal-cli', TEMPORAL_CLI_VERSION);
  const bin = path.join(dir, 'temporal');
  if (existsSync(bin)) return { type: 'existing-path', path: bin };
  if (!(await hasCommand('go', ['version']))) {
    log('Go is not installed: falling back to the SDK download of the Temporal CLI (needs internet)');
    return { type: 'cached-download', downloadDir: path.join(cacheRoot(), 'sdk-download') };
  }
  log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (first run only, takes a few minutes)…`);
  // Build into a private directory and rename: concurrent first runs never see a half-written binary.
  const tmp = path.join(dir, `.build-${randomUUID()}`);
  await fs.mkdir(tmp, { recursive: true });
  try {
    await run('go', ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: tmp, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      timeout: 30 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    await fs.rename(path.join(tmp, 'temporal'), bin);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  log(`Temporal CLI cached at ${bin}`);
  return { type: 'existing-path', path: bin };
}

/** The test server's version, and a cache key that changes whenever the pom (its classpath) does. */
async function testServerCacheKey(): Promise<{ version: string; key: string }> {
  const pom = await fs.readFile(TEST_SERVER_POM, 'utf8');
  const m = /<temporal\.test\.server\.version>([^<]+)</.exec(pom);
  if (!m?.[1]) throw new Error(`no temporal.test.server.version in ${TEST_SERVER_POM}`);
  return { version: m[1], key: `${m[1]}-${createHash('sha256').update(pom).digest('hex').slice(0, 8)}` };
}

/** Path of a wrapper script that runs Temporal's Java time-skipping test server. */
export async function ensureTestServer(): Promise<ServerExecutable> {
  const override = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (override) {
    if (!existsSync(override)) throw new Error(`TEMPORAL_TEST_SERVER_PATH=${override} does not exist`);
    return { type: 'existing-path', path: override };
  }
  const { version, key } = await testServerCacheKey();
  const dir = path.join(cacheRoot(), 'temporal-test-server', key);
  const wrapper = path.join(dir, 'temporal-test-server');
  if (existsSync(wrapper)) return { type: 'existing-path', path: wrapper };
  if (!(await hasCommand('java', ['-version'])) || !(await hasCommand('mvn', ['-v']))) {
    log('Java or Maven is missing: falling back to the SDK download of the test server (needs internet)');
    return { type: 'cached-download', downloadDir: path.join(cacheRoot(), 'sdk-download') };
  }
  log(`resolving io.temporal:temporal-test-server:${version} from Maven Central…`);
  await fs.mkdir(dir, { recursive: true });
  const classpathFile = path.join(dir, `classpath-${randomUUID()}.txt`);
  await run('mvn', ['-q', '-B', '-f', TEST_SERVER_POM, 'dependency:build-classpath', `-Dmdep.outputFile=${classpathFile}`], {
    timeout: 20 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const classpath = (await fs.readFile(classpathFile, 'utf8')).trim();
  await fs.rm(classpathFile, { force: true });
  // `exec` so that the SDK's handle on the process is the JVM itself and stopping it stops Java.
  const script = [
    '#!/bin/sh',
    `# Temporal time-skipping test server ${version}; first argument: the port`,
    `exec java -Xss4m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '${classpath}' io.temporal.testserver.TestServer "$@"`,
    '',
  ].join('\n');
  const tmp = `${wrapper}.${randomUUID()}`;
  await fs.writeFile(tmp, script, { mode: 0o755 });
  await fs.rename(tmp, wrapper);
  log(`test server wrapper cached at ${wrapper}`);
  return { type: 'existing-path', path: wrapper };
}

/** The Temporal server release of the cluster: the one the dev server (CLI 1.5.1) embeds and docker-compose.yml runs. */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';

export interface TemporalServerBinaries {
  /** `temporal-server` (cmd/server): runs any of frontend, history, matching, worker. */
  server: string;
  /** `temporal-sql-tool` (cmd/tools/sql): creates databases and applies the versioned schemas. */
  sqlTool: string;
  /** Directory holding `temporal/versioned` and `visibility/versioned` (PostgreSQL v12 schemas). */
  postgresSchemaDir: string;
}

/**
 * The Temporal server and its SQL schema tool, built with `go install` on first use and cached beside
 * the CLI (`temporal-server/<version>/`), with the module's PostgreSQL schemas copied next to them.
 * `TEMPORAL_SERVER_BIN`, `TEMPORAL_SQL_TOOL_BIN` and `TEMPORAL_SCHEMA_DIR` point at existing ones instead.
 */
export async function ensureTemporalServer(): Promise<TemporalServerBinaries> {
  const dir = path.join(cacheRoot(), 'temporal-server', TEMPORAL_SERVER_VERSION);
  const cached = {
    server: path.join(dir, 'temporal-server'),
    sqlTool: path.join(dir, 'temporal-sql-tool'),
    postgresSchemaDir: path.join(dir, 'schema', 'postgresql', 'v12'),
  };
  const wanted: TemporalServerBinaries = {
    server: process.env.TEMPORAL_SERVER_BIN || cached.server,
    sqlTool: process.env.TEMPORAL_SQL_TOOL_BIN || cached.sqlTool,
    postgresSchemaDir: process.env.TEMPORAL_SCHEMA_DIR || cached.postgresSchemaDir,
  };
  for (const [env, p] of [
    ['TEMPORAL_SERVER_BIN', process.env.TEMPORAL_SERVER_BIN],
    ['TEMPORAL_SQL_TOOL_BIN', process.env.TEMPORAL_SQL_TOOL_BIN],
    ['TEMPORAL_SCHEMA_DIR', process.env.TEMPORAL_SCHEMA_DIR],
  ] as const) {
    if (p && !existsSync(p)) throw new Error(`${env}=${p} does not exist`);
  }
  if (existsSync(wanted.server) && existsSync(wanted.sqlTool) && existsSync(wanted.postgresSchemaDir)) return wanted;
  if (!(await hasCommand('go', ['version']))) {
    throw new Error(
      'the Temporal server is built with Go: install Go, or set TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL_BIN and TEMPORAL_SCHEMA_DIR',
    );
  }
  log(
    `building the Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool with go install (first run only, takes a few minutes)…`,
  );
  const tmp = path.join(dir, `.build-${randomUUID()}`);
  await fs.mkdir(tmp, { recursive: true });
  try {
    const env = { ...process.env, GOBIN: tmp, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
    await run(
      'go',
      [
        'install',
        `${TEMPORAL_SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`,
        `${TEMPORAL_SERVER_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
      ],
      { env, timeout: 40 * 60_000, maxBuffer: 64 * 1024 * 1024, cwd: tmp },
    );
    // the schemas ship inside the module, which go install has just put into the module cache
    const { stdout } = await run('go', ['mod', 'download', '-json', `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`], {
      env,
      cwd: tmp,
      maxBuffer: 16 * 1024 * 1024,
    });
    const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!moduleDir)
      throw new Error(`go mod download named no directory for ${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`);
    await fs.cp(path.join(moduleDir, 'schema', 'postgresql', 'v12'), path.join(tmp, 'schema', 'postgresql', 'v12'), {
      recursive: true,
    });
    // the module cache is read-only; the copy need not be
    await run('chmod', ['-R', 'u+w', path.join(tmp, 'schema')]);
    await fs.rm(cached.postgresSchemaDir, { recursive: true, force: true });
    await fs.mkdir(path.dirname(cached.postgresSchemaDir), { recursive: true });
    await fs.rename(path.join(tmp, 'schema', 'postgresql', 'v12'), cached.postgresSchemaDir);
    await fs.rename(path.join(tmp, 'sql'), cached.sqlTool);
    await fs.rename(path.join(tmp, 'server'), cached.server);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  log(`Temporal server cached at ${cached.server}`);
  return wanted;
}
