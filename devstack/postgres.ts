/**
 * A PostgreSQL cluster run from the machine's own binaries (initdb / pg_ctl): the embedded default of
 * `npm start` (data under DATA_DIR) and the throwaway cluster of the tests (temp dir, random port).
 * It listens on loopback TCP only (no unix socket) with trust auth for the local `postgres` role.
 * PostgreSQL refuses to run as root; when we are root, its commands run as the `postgres` user, who
 * must be able to pass through every directory on the way to the data (checked, with a clear error).
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, portOpen, waitFor } from './child-process';

const run = promisify(execFile);

export interface EmbeddedPostgres {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export function findPgBin(): string {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(root, v, 'bin'));
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) candidates.push(dir);
  for (const dir of candidates)
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL (Debian: postgresql), set PG_BIN, or set DATABASE_URL',
  );
}

interface RunAs {
  uid?: number;
  gid?: number;
  /** All groups of the user (`id -G`), for the permission check of the data directory's path. */
  groups?: number[];
}

async function runAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const { stdout: uid } = await run('id', ['-u', 'postgres']).catch(() => {
    throw new Error('running as root, PostgreSQL needs an unprivileged `postgres` user (Debian: apt-get install postgresql)');
  });
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  const { stdout: groups } = await run('id', ['-G', 'postgres']);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()), groups: groups.trim().split(/\s+/).map(Number) };
}

/**
 * The first directory on the way to `dir` (itself included) that a user with `uid` and `groups` may
 * not pass through (no execute permission for it), with its mode; undefined when the whole path is open.
 */
export async function closedDirectoryOnPath(
  dir: string,
  user: { uid: number; groups: number[] },
): Promise<{ dir: string; mode: string } | undefined> {
  let current = path.parse(path.resolve(dir)).root;
  for (const part of ['', ...path.resolve(dir).split(path.sep).filter(Boolean)]) {
    current = path.join(current, part);
    const st = await fs.stat(current);
    const bit = st.uid === user.uid ? 0o100 : user.groups.includes(st.gid) ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return { dir: current, mode: (st.mode & 0o777).toString(8).padStart(4, '0') };
  }
  return undefined;
}

async function pgCommand(bin: string, cmd: string, args: string[], user: RunAs): Promise<string> {
  const { stdout } = await run(path.join(bin, cmd), args, {
    uid: user.uid,
    gid: user.gid,
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    timeout: 120_000,
    cwd: '/',
  });
  return stdout;
}

export interface StartPostgresOptions {
  dataDir: string;
  port?: number;
  database?: string;
  /** Extra server settings (`-c name=value`), e.g. the benchmark's `shared_preload_libraries=pg_stat_statements`. */
  settings?: Record<string, string>;
}

export async function startPostgres(opts: StartPostgresOptions): Promise<EmbeddedPostgres> {
  const bin = findPgBin();
  const user = await runAs();
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const database = opts.database ?? 'device_rollout';
  if (await portOpen(port)) throw new Error(`port 127.0.0.1:${port} is already in use (another PostgreSQL?)`);

  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (user.uid !== undefined) {
    await fs.chown(dataDir, user.uid, user.gid ?? user.uid);
    // initdb would only say "Permission denied" for the data directory
    const closed = await closedDirectoryOnPath(dataDir, { uid: user.uid, groups: user.groups ?? [] });
    if (closed)
      throw new Error(
        `PostgreSQL runs as the postgres user here (we are root) and cannot reach ${dataDir}: ` +
          `${closed.dir} (mode ${closed.mode}) does not let it through. Put the data under a directory others may ` +
          `pass through (DATA_DIR), or allow it: chmod o+x ${closed.dir}`,
      );
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await pgCommand(
      bin,
      'initdb',
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      user,
    );
  }
  const logFile = path.join(dataDir, 'server.log');
  const extra = Object.entries(opts.settings ?? {}).map(([k, v]) => {
    if (!/^[a-z_.]+$/.test(k) || !/^[\w.,-]+$/.test(v)) throw new Error(`PostgreSQL setting ${k}=${v}: not a plain name=value`);
    return ` -c ${k}=${v}`;
  });
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=${process.env.PG_FSYNC ?? 'on'}${extra.join('')}`;
  await pgCommand(bin, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start'], user);

  const stop = async () => {
    await pgCommand(bin, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], user).catch(() => undefined);
  };
  try {
    const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitFor('PostgreSQL', async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.end();
      return true;
    });
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
    } finally {
      await c.end();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/${database}`, port, dataDir, stop };
}
