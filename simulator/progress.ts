/**
 * Progress on the terminal: on a TTY a bar with the share of final jobs and the counts per status,
 * redrawn in place (two lines); otherwise (CI, a pipe, a log file) a plain line every `plainEveryMs`
 * and whenever the phase changes.
 */
import type { FleetProgress } from './fleet';

export interface ProgressOptions {
  out?: NodeJS.WriteStream;
  /** Force plain lines (default: plain when `out` is not a TTY). */
  plain?: boolean;
  plainEveryMs?: number;
  width?: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

function bar(done: number, total: number, width: number): string {
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.round(share * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

export function statusLine(counts: Record<string, number>): string {
  const entries = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([s, n]) => `${s}: ${n}`).join(' · ') : '(no job yet)';
}

function progressText(p: FleetProgress): [string, string] {
  const c = p.counters;
  if (p.phase === 'registering') return [`registering devices ${p.registered}/${p.total}`, ''];
  if (p.phase === 'uploading' || p.phase === 'starting') return [`${p.phase}…`, ''];
  const pct = p.total > 0 ? Math.floor((100 * p.final) / p.total) : 0;
  const head = `${bar(p.final, p.total, 30)} ${p.final}/${p.total} final (${pct}%) ${seconds(p.elapsedMs)}${p.state ? ` rollout ${p.state}` : ''}`;
  const dev = `pushes ${c.pushesReceived}${c.pushesIgnored ? ` (ignored ${c.pushesIgnored})` : ''}, dm ${c.dmPushes}, downloads ${c.downloadsOk}${c.downloadsFailed ? `/${c.downloadsFailed} failed` : ''}, syncs ${c.syncs}${c.pollSyncs ? ` (+${c.pollSyncs} polls)` : ''}, offline ${c.offlineNow}${c.errors ? `, errors ${c.errors}` : ''}`;
  return [`${head} | ${dev}`, `  ${statusLine(p.counts)}`];
}

export function createProgressPrinter(opts: ProgressOptions = {}): { update(p: FleetProgress): void; done(): void } {
  const out = opts.out ?? process.stderr;
  const plain = opts.plain ?? !out.isTTY;
  const every = opts.plainEveryMs ?? 5_000;
  let drawn = 0;
  let lastPlain = 0;
  let lastPhase = '';
  let lastFinal = -1;
  return {
    update(p) {
      const [a, b] = progressText(p);
      if (plain) {
        const now = Date.now();
        if (p.phase !== lastPhase || now - lastPlain >= every || (p.total > 0 && p.final === p.total && p.final !== lastFinal)) {
          out.write(`${a}${b ? `\n${b}` : ''}\n`);
          lastPlain = now;
          lastPhase = p.phase;
          lastFinal = p.final;
        }
        return;
      }
      const cols = (out.columns ?? 120) - 1;
      const clip = (s: string) => (s.length > cols ? `${s.slice(0, cols - 1)}…` : s);
      let s = '';
      if (drawn > 0) s += `\x1b[${drawn}A`;
      s += `\r\x1b[2K${clip(a)}\n\r\x1b[2K${clip(b)}\n`;
      drawn = 2;
      out.write(s);
    },
    done() {
      drawn = 0;
    },
  };
}
