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
