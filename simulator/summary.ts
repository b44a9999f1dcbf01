/** The simulator's summary as text (printed by `npm run simulate` and the benchmark). */
import type { FleetSummary } from './fleet';
import { statusLine } from './progress';

export function formatSummary(s: FleetSummary): string {
  const lines: string[] = [];
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  lines.push('', `Rollout ${s.rolloutId} (${s.via})`);
  lines.push(
    `  ${s.devices} devices (${s.platforms.join(', ')}), push ${s.push}${s.useDm ? ', Use DM' : ''}; registered in ${secs(s.registerMs)}, rollout started in ${secs(s.startMs)}`,
  );
  lines.push(
    `  ${s.final}/${s.total} jobs final after ${secs(s.elapsedMs)}${s.allFinal ? '' : ' (TIME LIMIT: not all final)'} → ${s.installsPerSecond} installs/s`,
  );
  lines.push(`  final statuses: ${statusLine(s.counts)}`);
  if (s.mix) {
    lines.push(`  expected mix per knob: ${s.mixOk ? 'OK' : 'MISMATCH'}`);
    for (const [k, m] of Object.entries(s.mix)) {
      lines.push(`    ${k.padEnd(26)} ${String(m.devices).padStart(6)} devices  expected ${statusLine(m.expected)}`);
      if (m.matched !== m.devices) lines.push(`    ${''.padEnd(26)} ${''.padStart(6)}          actual   ${statusLine(m.actual)}`);
    }
    for (const x of (s.mismatches ?? []).slice(0, 10)) {
      lines.push(`    mismatch ${x.externalId} [${x.knob}]: expected ${x.expected}, got ${x.actual}`);
    }
  }
  const c = s.counters;
  lines.push(
    `  devices: ${c.pushesReceived} pushes (${c.pushesIgnored} ignored), ${c.dmPushes} DM pushes, ${c.downloadsOk} downloads ok (${c.interruptedResumed} resumed with Range), ${c.downloadsFailed} failed, ${c.reportsSent} reports (${c.reportsLate} late, ${c.reportsDuplicateAcked} acknowledged as duplicates), ${c.syncs} syncs + ${c.pollSyncs} polling syncs, ${c.dmInstallsReported} DM installs ok / ${c.dmInstallsFailedReported} failed, ${c.errors} errors`,
  );
  lines.push('  latency (client side, ms):        count    p50    p90    p99    max  errors');
  for (const [e, l] of Object.entries(s.latency)) {
    lines.push(
      `    ${e.padEnd(34)} ${String(l.count).padStart(6)} ${String(l.p50).padStart(6)} ${String(l.p90).padStart(6)} ${String(l.p99).padStart(6)} ${String(l.max).padStart(6)} ${String(l.errors).padStart(6)}`,
    );
  }
  for (const e of s.errors.slice(0, 5)) lines.push(`  error: ${e.device} ${e.what}: ${e.message}`);
  return lines.join('\n');
}
