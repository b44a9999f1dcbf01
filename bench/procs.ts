/**
 * Resource sampling of the benchmark's processes from /proc (Linux): resident memory (VmRSS, peak
 * per phase, and VmHWM) and CPU time (user + system, including reaped children for process trees
 * such as PostgreSQL's postmaster and its backends).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const CLK_TCK = 100; // `getconf CLK_TCK` on Linux (x86-64 and arm64 kernels use USER_HZ = 100)

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, ticks */
  own: number;
  /** cutime + cstime, ticks */
  children: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] = state (field 3) → field n is rest[n - 3]
    return {
      pid,
      ppid: Number(rest[1]),
      own: Number(rest[11]) + Number(rest[12]),
      children: Number(rest[13]) + Number(rest[14]),
    };
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM of a process, in MB (undefined when it is gone). */
function memoryOf(pid: number): { rssMb: number; hwmMb: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, hwmMb: Math.round(kb('VmHWM') / 102.4) / 10 };
  } catch {
    return undefined;
  }
}

function allStats(): Map<number, Stat> {
  const out = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) out.set(st.pid, st);
  }
  return out;
}

/** CPU seconds of a process tree: every live member's own time + the root's reaped children. */
function treeCpuTicks(root: number, stats: Map<number, Stat>): number {
  const r = stats.get(root);
  if (!r) return Number.NaN;
  const kids = new Map<number, number[]>();
  for (const s of stats.values()) {
    const list = kids.get(s.ppid);
    if (list) list.push(s.pid);
    else kids.set(s.ppid, [s.pid]);
  }
  let ticks = r.children;
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length) {
    const p = stack.pop() as number;
    if (seen.has(p)) continue;
    seen.add(p);
    ticks += stats.get(p)?.own ?? 0;
    for (const c of kids.get(p) ?? []) stack.push(c);
  }
  return ticks;
}

/** Machine-wide CPU ticks from /proc/stat: busy (user+nice+system+irq+softirq+steal), iowait, total. */
function machineTicks(): { busy: number; iowait: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, iowait, total: busy + idle + iowait };
  } catch {
    return { busy: 0, iowait: 0, total: 0 };
  }
}

export interface PhaseUsage {
  /** CPU seconds per process (tree) during the phase. */
  cpuSeconds: Record<string, number>;
  /** Highest VmRSS sampled during the phase, MB. */
  peakRssMb: Record<string, number>;
  wallSeconds: number;
  /** Machine-wide share of CPU time busy / waiting for I/O during the phase (0–1). */
  machineBusy: number;
  machineIowait: number;
  /** CPU seconds of everything else on the machine (busy time not used by the tracked processes). */
  otherCpuSeconds: number;
  loadAverage: number[];
}

/**
 * Samples named processes every `intervalMs`. `self` is this process (the simulator's devices and
 * the benchmark driver).
 */
export class ProcSampler {
  private readonly roots = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private peak: Record<string, number> = {};
  private cpuAtMark: Record<string, number> = {};
  private markedAt = Date.now();
  private machineAtMark = machineTicks();
  /** Memory over time (for the paced run): [seconds since start, name → RSS MB]. */
  readonly series: { t: number; rss: Record<string, number> }[] = [];
  private readonly t0 = Date.now();
  keepSeries = false;

  track(name: string, pid: number): void {
    this.roots.set(name, pid);
  }

  untrack(name: string): void {
    this.roots.delete(name);
  }

  start(intervalMs = 1_000): void {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private sample(): void {
    const rss: Record<string, number> = {};
    for (const [name, pid] of this.roots) {
      const m = name === 'bench' ? { rssMb: Math.round(process.memoryUsage().rss / 104857.6) / 10 } : memoryOf(pid);
      if (!m) continue;
      rss[name] = m.rssMb;
      this.peak[name] = Math.max(this.peak[name] ?? 0, m.rssMb);
    }
    if (this.keepSeries) this.series.push({ t: Math.round((Date.now() - this.t0) / 100) / 10, rss });
  }

  private cpuNow(): Record<string, number> {
    const stats = allStats();
    const out: Record<string, number> = {};
    for (const [name, pid] of this.roots) {
      if (name === 'bench') {
        const u = process.cpuUsage();
        out[name] = (u.user + u.system) / 1e6;
      } else out[name] = treeCpuTicks(pid, stats) / CLK_TCK;
    }
    return out;
  }

  /** Starts a phase: CPU counters and RSS peaks are measured from here. */
  mark(): void {
    this.sample();
    this.peak = {};
    this.sample();
    this.cpuAtMark = this.cpuNow();
    this.machineAtMark = machineTicks();
    this.markedAt = Date.now();
  }

  /** Usage since the last `mark`. */
  usage(): PhaseUsage {
    this.sample();
    const now = this.cpuNow();
    const cpuSeconds: Record<string, number> = {};
    for (const [name, v] of Object.entries(now)) {
      const before = this.cpuAtMark[name];
      if (before !== undefined && Number.isFinite(v) && Number.isFinite(before))
        cpuSeconds[name] = Math.round((v - before) * 10) / 10;
    }
    const m = machineTicks();
    const total = Math.max(1, m.total - this.machineAtMark.total);
    const ours = Object.values(cpuSeconds).reduce((a, b) => a + b, 0);
    const busySeconds = (m.busy - this.machineAtMark.busy) / CLK_TCK;
    // processes of one part (`worker#1`, `worker#2`; `temporal#history` …) also count as the part:
    // its CPU summed, its peak RSS the largest process's
    const peakRssMb = { ...this.peak };
    for (const [name, v] of Object.entries({ ...cpuSeconds })) {
      const part = groupOf(name);
      if (part) cpuSeconds[part] = Math.round(((cpuSeconds[part] ?? 0) + v) * 10) / 10;
    }
    for (const [name, v] of Object.entries(this.peak)) {
      const part = groupOf(name);
      if (part) peakRssMb[part] = Math.max(peakRssMb[part] ?? 0, v);
    }
    return {
      cpuSeconds,
      peakRssMb,
      wallSeconds: Math.round((Date.now() - this.markedAt) / 100) / 10,
      machineBusy: Math.round(((m.busy - this.machineAtMark.busy) / total) * 1000) / 1000,
      machineIowait: Math.round(((m.iowait - this.machineAtMark.iowait) / total) * 1000) / 1000,
      otherCpuSeconds: Math.round(Math.max(0, busySeconds - ours) * 10) / 10,
      loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
  }
}

/** `worker#2` → `worker`: the part a tracked process belongs to (undefined: it is a part itself). */
export function groupOf(name: string): string | undefined {
  const i = name.indexOf('#');
  return i > 0 ? name.slice(0, i) : undefined;
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet — less than `maxBusy` of its CPU busy over
 * `windowMs` — so that a phase does not start while other programs (e.g. someone's test run) use the
 * CPU. Returns how long it waited and the last busy share.
 */
export async function waitForQuiet(
  maxWaitMs: number,
  maxBusy = 0.25,
  windowMs = 3_000,
): Promise<{ waitedS: number; busy: number }> {
  const t0 = Date.now();
  let busy = 1;
  for (;;) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, windowMs));
    const b = machineTicks();
    busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < maxBusy || Date.now() - t0 >= maxWaitMs) break;
  }
  return { waitedS: Math.round((Date.now() - t0) / 100) / 10, busy: Math.round(busy * 1000) / 1000 };
}
