/**
 * `npx tsx bench/csv.ts` — the CSV of a 100,000-job rollout (`GET /api/v1/rollouts/:id/installations.csv`,
 * issue 14) streamed from the API, and how much the API's resident memory grows meanwhile.
 *
 * It starts the benchmark's stack (bench/stack.ts: PostgreSQL, the Temporal dev server, the worker and
 * the API as child processes), writes a finished rollout of N jobs straight into PostgreSQL (one
 * INSERT … SELECT each: devices, jobs — 1 in 10 failed with an error in its log, the rest verified),
 * then downloads its CSV three times while sampling the API process's VmRSS from /proc every 20 ms:
 * a warm-up read, a fast read, and a slow reader (40 ms pause after every 64 KiB) that makes the API wait
 * on the socket (backpressure). Every download is checked: a header and N rows.
 * Prints the figures and writes docs/bench/results-csv.json (docs/performance.md quotes them).
 *
 *   --jobs N        rollout size                  [100000]
 *   --out DIR       where the results go          [docs/bench]
 */
import { randomUUID } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../devstack/temporal-servers';
import { startBenchStack } from './stack';

const { values } = parseArgs({
  options: { jobs: { type: 'string', default: '100000' }, out: { type: 'string', default: 'docs/bench' } },
});
const JOBS = Number(values.jobs);

/** VmRSS of a process in MB. */
function rssMb(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0) / 1024;
}

interface Read {
  name: string;
  rows: number;
  bytes: number;
  seconds: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  growthMb: number;
}

async function readCsv(name: string, url: string, key: string, apiPid: number, pauseMs: number): Promise<Read> {
  const before = rssMb(apiPid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(apiPid));
  }, 20);
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200 || !res.body) throw new Error(`CSV: HTTP ${res.status}`);
  let bytes = 0;
  let lines = 0;
  let sincePause = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    for (const b of chunk) if (b === 10) lines++;
    sincePause += chunk.byteLength;
    if (pauseMs > 0 && sincePause >= 65_536) {
      sincePause = 0;
      await sleep(pauseMs);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(apiPid));
  const r = {
    name,
    rows: lines - 1,
    bytes,
    seconds: Math.round(seconds * 100) / 100,
    rssBeforeMb: Math.round(before * 10) / 10,
    rssPeakMb: Math.round(peak * 10) / 10,
    growthMb: Math.round((peak - before) * 10) / 10,
  };
  if (r.rows !== JOBS) throw new Error(`${name}: ${r.rows} rows, expected ${JOBS}`);
  return r;
}

async function main() {
  const stack = await startBenchStack({ log: (l) => console.log(`[stack] ${l}`) });
  try {
    const { db } = stack;
    const tag = randomUUID().slice(0, 8);
    console.log(`writing a finished rollout of ${JOBS.toLocaleString('en')} jobs…`);
    const [sw] = await db('software')
      .insert({ name: `CSV bench ${tag}`, version: '1.0', kind: 'dme-client', platforms: ['symbian'] })
      .returning('id');
    const [rollout] = await db('rollouts')
      .insert({
        software_id: sw.id,
        options: JSON.stringify({ useDm: false, push: 'sms', maxPushAttempts: 3 }),
        schedule: JSON.stringify({ perDay: 'unlimited' }),
        state: 'completed',
        total: JOBS,
        completed_at: db.fn.now(),
      })
      .returning('id');
    await db.raw(
      `INSERT INTO devices (external_id, platform, msisdn, token_hash, created_at)
       SELECT 'csv-${tag}-' || g, 'symbian', '+49151' || lpad(g::text, 7, '0'), md5('csv-${tag}-' || g),
              now() + g * interval '1 microsecond'
         FROM generate_series(1, ?) g`,
      [JOBS],
    );
    await db.raw(
      `INSERT INTO installations (rollout_id, device_id, seq, status, final, method, detail, started_at, ended_at)
       SELECT ?, d.id, n.seq,
              CASE WHEN n.seq % 10 = 0 THEN 'Installation failed' ELSE 'Downloaded – Verified' END,
              true, 'sms',
              CASE WHEN n.seq % 10 = 0 THEN 'ticket expired: no download after 3 pushes' ELSE 'verified' END,
              now() - interval '2 days' + n.seq * interval '1 second', now() - interval '1 day' + n.seq * interval '1 second'
         FROM (SELECT id, (row_number() OVER (ORDER BY created_at, id) - 1)::int AS seq
                 FROM devices WHERE external_id LIKE 'csv-${tag}-%') n
         JOIN devices d ON d.id = n.id`,
      [rollout.id],
    );
    await db.raw(
      `INSERT INTO installation_log (installation_id, event, message, entry_key)
       SELECT id, 'error', 'the device reported: installer exit code 1603, "disk full"', 'bench-error'
         FROM installations WHERE rollout_id = ? AND status = 'Installation failed'`,
      [rollout.id],
    );
    await db.raw('ANALYZE installations; ANALYZE devices; ANALYZE installation_log');

    const url = `${stack.apiUrl}/api/v1/rollouts/${rollout.id}/installations.csv`;
    const pid = stack.api.pid;
    await sleep(2_000); // the API settles after start-up
    const reads: Read[] = [];
    reads.push(await readCsv('warm-up', url, stack.adminKey, pid, 0));
    await sleep(1_000);
    reads.push(await readCsv('fast reader', url, stack.adminKey, pid, 0));
    await sleep(1_000);
    reads.push(await readCsv('slow reader (40 ms pause per 64 KiB)', url, stack.adminKey, pid, 40));
    for (const r of reads) {
      console.log(
        `${r.name}: ${r.rows.toLocaleString('en')} rows, ${(r.bytes / 1048576).toFixed(1)} MB in ${r.seconds} s — API RSS ${r.rssBeforeMb} → peak ${r.rssPeakMb} MB (growth ${r.growthMb} MB)`,
      );
    }
    // over the three reads, from the API's RSS before the first one
    const overallGrowthMb = Math.round((Math.max(...reads.map((r) => r.rssPeakMb)) - reads[0]!.rssBeforeMb) * 10) / 10;
    console.log(
      `API RSS over all three reads: ${reads[0]!.rssBeforeMb} → peak ${Math.max(...reads.map((r) => r.rssPeakMb))} MB (growth ${overallGrowthMb} MB)`,
    );
    const outDir = path.resolve(PROJECT_ROOT, values.out);
    await fs.mkdir(outDir, { recursive: true });
    const file = path.join(outDir, 'results-csv.json');
    await fs.writeFile(
      file,
      `${JSON.stringify({ measuredAt: new Date().toISOString(), jobs: JOBS, reads, overallGrowthMb, limitMb: 50 }, null, 2)}\n`,
    );
    console.log(`wrote ${path.relative(PROJECT_ROOT, file)}`);
    if (overallGrowthMb >= 50) {
      console.error(`RSS growth ${overallGrowthMb} MB ≥ 50 MB`);
      process.exitCode = 1;
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
