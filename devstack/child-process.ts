/**
 * Child processes that the project starts itself (Temporal dev server, PostgreSQL, test SMTP …):
 * started with their own log file, stopped by pid — never by name.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import net from 'node:net';

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

/** Ports freePort has handed out in this process: the kernel readily gives a just-closed port again. */
const handedOut = new Set<number>();

function listenOnAnyPort(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => resolve(srv));
  });
}

/**
 * A free TCP port on the loopback interface, never one this process was given before (a Kannel
 * start once got the same port for two of its listeners). Ports already handed out stay bound
 * while the kernel is asked again, so it cannot offer them twice in a row.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const held: net.Server[] = [];
  try {
    for (let attempt = 0; attempt < 1_000; attempt++) {
      const srv = await listenOnAnyPort(host);
      held.push(srv);
      const addr = srv.address();
      if (typeof addr !== 'object' || !addr) throw new Error('no port');
      if (!handedOut.has(addr.port)) {
        handedOut.add(addr.port);
        return addr.port;
      }
    }
    throw new Error(`no free port on ${host} after 1,000 tries`);
  } finally {
    await Promise.all(held.map((srv) => new Promise((resolve) => srv.close(resolve))));
  }
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
