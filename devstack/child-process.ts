/**
 * Child processes that the project starts itself (Temporal dev server, PostgreSQL, test SMTP …):
 * started with their own log file, stopped by pid — never by name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, promises as fs, readFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  exited(): boolean;
}

export function startProcess(
  command: string,
  args: string[],
  opts: { logFile?: string; env?: NodeJS.ProcessEnv; cwd?: string; name: string },
): ManagedProcess {
  let out: WriteStream | undefined;
  if (opts.logFile) out = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', out ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore'],
  });
  if (out) {
    // both pipes feed one file: neither may end it (the stop does, once both are closed)
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    out.on('error', () => undefined);
  }
  if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${command})`);
  let hasExited = false;
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
    child.once('error', () => {
      hasExited = true;
      resolve();
    });
  });
  const pid = child.pid;
  return {
    pid,
    child,
    exited: () => hasExited,
    async stop(graceMs = 10_000) {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!hasExited) child.kill('SIGKILL');
      }, graceMs);
      await exit;
      clearTimeout(timer);
      // what the process wrote last is still in the pipes; a grandchild holding them must not block
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      out?.end();
    },
  };
}

/** Ports freePort has handed out in this process. */
const handedOut = new Set<number>();

/**
 * Ports handed out by any process on this machine, one file per port (`<port>`, holding the pid),
 * so that two test processes starting servers side by side never get the same port. A reservation
 * covers the moment from the pick to the server's bind (seconds); after RESERVATION_MS it is stale.
 */
const RESERVATIONS_DIR = path.join(os.tmpdir(), 'device-rollout-ports');
const RESERVATION_MS = 60_000;
let swept = false;

/** Reserves `port` for this process; false when another process reserved it within RESERVATION_MS. */
async function reservePort(port: number): Promise<boolean> {
  const file = path.join(RESERVATIONS_DIR, String(port));
  try {
    if (!swept) {
      swept = true;
      await fs.mkdir(RESERVATIONS_DIR, { recursive: true });
      await sweepReservations();
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, String(process.pid), { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const st = await fs.stat(file).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs < RESERVATION_MS) return false;
        await fs.rm(file, { force: true }); // stale: whoever creates it next has it
      }
    }
    return false;
  } catch {
    return true; // no usable directory: this process's own record (handedOut) is all there is
  }
}

/** Removes the stale reservations (once per process), so the directory holds about a minute's worth. */
async function sweepReservations(): Promise<void> {
  const now = Date.now();
  for (const name of await fs.readdir(RESERVATIONS_DIR)) {
    const file = path.join(RESERVATIONS_DIR, name);
    const st = await fs.stat(file).catch(() => undefined);
    if (st && now - st.mtimeMs >= RESERVATION_MS) await fs.rm(file, { force: true });
  }
}

/**
 * Where freePort draws: the 16,384 ports below the kernel's range for outgoing connections
 * (`ip_local_port_range`), so that no connection's own port takes one between the pick and the bind.
 * Not the kernel's `listen(0)`: here it offered the lowest free port of its range, the same one to every
 * process asking before the first has bound it (two processes drawing at once shared 152 of 1,000).
 */
function drawRange(): { from: number; to: number } {
  range ??= readDrawRange();
  return range;
}
let range: { from: number; to: number } | undefined;

function readDrawRange(): { from: number; to: number } {
  let low = 32_768;
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 2_048) low = first;
  } catch {
    // not Linux: the common default
  }
  return { from: Math.max(1_024, low - 16_384), to: low - 1 };
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on the loopback interface, drawn at random (drawRange), never one this process was
 * given before nor one another process on this machine reserved within the last minute.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { from, to } = drawRange();
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port) || !(await canListen(port, host)) || !(await reservePort(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port on ${host} after 1,000 tries`);
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; aborted?: () => string | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const why = opts.aborted?.();
    if (why) throw new Error(`${what}: ${why}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/** A child process that can be started again after it was killed or stopped (fault tests, the cluster). */
export interface RestartableProcess {
  readonly name: string;
  readonly logFile: string;
  pid(): number | undefined;
  running(): boolean;
  /** Starts it (again); resolves once `ready` says so. */
  start(): Promise<void>;
  /** SIGKILL: no shutdown of any kind. Resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** How many times it was started. */
  starts(): number;
}

export function restartableProcess(opts: {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}): RestartableProcess {
  let proc: ManagedProcess | undefined;
  let count = 0;
  return {
    name: opts.name,
    logFile: opts.logFile,
    pid: () => proc?.pid,
    running: () => !!proc && !proc.exited(),
    starts: () => count,
    async start() {
      if (proc && !proc.exited()) throw new Error(`${opts.name} is already running (pid ${proc.pid})`);
      await fs.appendFile(opts.logFile, `\n=== start ${++count} at ${new Date().toISOString()}\n`);
      const p = startProcess(opts.command, opts.args, { name: opts.name, env: opts.env, cwd: opts.cwd, logFile: opts.logFile });
      proc = p;
      try {
        await waitFor(`${opts.name} ready`, opts.ready, {
          timeoutMs: opts.readyTimeoutMs ?? 180_000,
          intervalMs: 250,
          aborted: () => (p.exited() ? `exited early; see ${opts.logFile}` : undefined),
        });
      } catch (err) {
        await p.stop(2_000);
        throw err;
      }
    },
    async kill() {
      const p = proc;
      if (!p || p.exited()) return;
      const exited = once(p.child, 'exit');
      p.child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 15_000) {
      await proc?.stop(graceMs);
    },
  };
}
