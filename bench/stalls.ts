/**
 * Where the device requests' stalls come from (issue 17: p99 over 150 ms in some runs, single requests
 * of 1.7 s, while p50 stayed ~12 ms). Per phase, next to the simulator's slow requests grouped into
 * stalls: the simulator's own event-loop delay (a stall of the client inflates every request it has
 * in flight), each API's event-loop lag, garbage collection and server-side slow requests (its
 * `/metrics`), PostgreSQL's checkpoints, and — sampled every 250 ms — what its busy connections were
 * waiting on (`pg_stat_activity`) and its WAL flushes (`pg_stat_wal`, with `track_wal_io_timing`):
 * a commit's wait for its WAL flush is not in any statement's execution time.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../infra/db';
import type { Stall } from '../simulator/stats';
import { scrapeMetrics } from './stack';

/** One look at PostgreSQL: its WAL flushes since the last look, what its busy connections wait on. */
export interface PgSample {
  /** ms since the phase's start (the latency recorder's clock). */
  tMs: number;
  walSyncs: number;
  walSyncMs: number;
  /** Busy client connections by wait event (`type:event`; `running` when not waiting). */
  waits: Record<string, number>;
}

/** What PostgreSQL was doing during one stall: its samples from the stall's start to its end. */
export interface PgDuringStall {
  samples: number;
  /** Busy connections seen per wait event, summed over the samples. */
  waits: Record<string, number>;
  /**
   * WAL flush time reported in and up to 1 s after the stall: backends report their WAL statistics
   * about once a second, so a flush shows up to a second late.
   */
  walSyncMs: number;
  walSyncs: number;
}

export interface StallReport {
  /** The simulator's slow requests (≥ 250 ms) grouped by overlap; the 10 with most requests. */
  clientStalls: (Stall & { pg?: PgDuringStall })[];
  clientStallCount: number;
  /** The benchmark process (the simulator) itself: its event loop's longest delay. */
  simulatorLoopDelayMaxMs: number;
  api: {
    /** The longest event-loop lag any API instance had. */
    loopLagMaxMs: number;
    /** GC time per kind, summed over the API instances (ms), and the collections over 100 ms. */
    gcMs: Record<string, number>;
    gcOver100ms: number;
    /** Server-side (the API's own histogram): requests over 250 ms and over 1 s per device route. */
    slowRequests: Record<string, { over250ms: number; over1s: number }>;
  };
  pgCheckpoints: { timed: number; requested: number; writeMs: number; syncMs: number; buffers: number };
  /** The phase's WAL flushes and its largest flush time between two 250-ms samples. */
  pgWal: { syncs: number; syncMs: number; slowestSampleSyncMs: number };
}

const SAMPLE_MS = 250;
/** How late a backend's WAL statistics may show (PostgreSQL flushes them at most once a second). */
const WAL_STATS_DELAY_MS = 1_000;

const PG_SAMPLE = `SELECT (SELECT wal_sync FROM pg_stat_wal)::bigint AS syncs, (SELECT wal_sync_time FROM pg_stat_wal) AS sync_ms,
  (SELECT coalesce(json_object_agg(w, n), '{}') FROM (
     SELECT coalesce(wait_event_type || ':' || wait_event, 'running') AS w, count(*) AS n FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1) a) AS waits`;

/** PostgreSQL's samples that fall in a stall (WAL flushes also up to a second after it). */
export function pgDuring(stall: Pick<Stall, 'startMs' | 'endMs'>, samples: readonly PgSample[]): PgDuringStall {
  const out: PgDuringStall = { samples: 0, waits: {}, walSyncMs: 0, walSyncs: 0 };
  for (const s of samples) {
    // a sample's WAL figures cover the SAMPLE_MS before it
    if (s.tMs > stall.startMs && s.tMs - SAMPLE_MS < stall.endMs + WAL_STATS_DELAY_MS) {
      out.walSyncMs += s.walSyncMs;
      out.walSyncs += s.walSyncs;
    }
    if (s.tMs < stall.startMs || s.tMs > stall.endMs) continue;
    out.samples++;
    for (const [w, n] of Object.entries(s.waits)) out.waits[w] = (out.waits[w] ?? 0) + n;
  }
  out.walSyncMs = Math.round(out.walSyncMs);
  return out;
}

/** For the benchmark's log: `5 samples, waits IO:WALSync 7, running 3; WAL flushes 4 (612 ms)`. */
export function pgDuringText(pg: PgDuringStall): string {
  const waits = Object.entries(pg.waits)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([w, n]) => `${w} ${n}`)
    .join(', ');
  return `${pg.samples} samples, waits ${waits || 'none'}; WAL flushes ${pg.walSyncs} (${pg.walSyncMs} ms)`;
}

/** Samples PostgreSQL every SAMPLE_MS until stopped; the WAL figures are the change since the last look. */
function samplePg(db: Db, t0: number) {
  const samples: PgSample[] = [];
  let last: { syncs: number; syncMs: number } | undefined;
  let stopped = false;
  const look = async () => {
    const r = (await db.raw(PG_SAMPLE)).rows[0];
    const now = { syncs: Number(r.syncs), syncMs: Number(r.sync_ms) };
    if (last) {
      samples.push({
        tMs: Math.round(performance.now() - t0),
        walSyncs: now.syncs - last.syncs,
        walSyncMs: now.syncMs - last.syncMs,
        waits: Object.fromEntries(Object.entries(r.waits as Record<string, unknown>).map(([w, n]) => [w, Number(n)])),
      });
    }
    last = now;
  };
  const loop = (async () => {
    while (!stopped) {
      await look().catch(() => undefined); // a missed look is a gap, not a failed phase
      await sleep(SAMPLE_MS);
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const API_METRICS =
  /^devicerollout_(api_nodejs_eventloop_lag_max_seconds|api_nodejs_gc_duration_seconds_(sum|bucket)|http_request_duration_seconds_bucket)$/;

async function checkpoints(db: Db): Promise<StallReport['pgCheckpoints']> {
  const r = (
    await db.raw(
      `SELECT checkpoints_timed::bigint AS timed, checkpoints_req::bigint AS requested, checkpoint_write_time AS write_ms,
              checkpoint_sync_time AS sync_ms, buffers_checkpoint::bigint AS buffers FROM pg_stat_bgwriter`,
    )
  ).rows[0];
  return {
    timed: Number(r.timed),
    requested: Number(r.requested),
    writeMs: Number(r.write_ms),
    syncMs: Number(r.sync_ms),
    buffers: Number(r.buffers),
  };
}

const label = (key: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(key)?.[1];

/**
 * Starts watching at a phase's start (also resets each API's lag maximum); `finish` at its end. Call it
 * right after resetting the latency recorder: PostgreSQL's samples count their time from this call.
 */
export async function watchStalls(db: Db, apiUrls: readonly string[]) {
  const t0 = performance.now();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const scrape = () => Promise.all(apiUrls.map((u) => scrapeMetrics(`${u}/metrics`, API_METRICS)));
  const apiBefore = await scrape();
  const pgBefore = await checkpoints(db);
  const pgSampler = samplePg(db, t0); // started last: nothing above can throw and leave it running
  loop.enable();
  return {
    async finish(clientStalls: Stall[]): Promise<StallReport> {
      loop.disable();
      await pgSampler.stop();
      const samples = pgSampler.samples;
      const apiAfter = await scrape();
      const pgAfter = await checkpoints(db);
      const api: StallReport['api'] = { loopLagMaxMs: 0, gcMs: {}, gcOver100ms: 0, slowRequests: {} };
      apiAfter.forEach((after, i) => {
        const before = apiBefore[i] ?? {};
        const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
        // cumulative buckets: the +Inf bucket less the one at `le` is the count above `le`
        const above = (inf: string, le: string) => delta(inf) - delta(inf.replace('le="+Inf"', `le="${le}"`));
        for (const k of Object.keys(after)) {
          if (k.startsWith('devicerollout_api_nodejs_eventloop_lag_max_seconds')) {
            api.loopLagMaxMs = Math.max(api.loopLagMaxMs, Math.round((after[k] ?? 0) * 1000));
          } else if (k.startsWith('devicerollout_api_nodejs_gc_duration_seconds_sum')) {
            const kind = label(k, 'kind') ?? '?';
            api.gcMs[kind] = Math.round((api.gcMs[kind] ?? 0) + delta(k) * 1000);
          } else if (k.startsWith('devicerollout_api_nodejs_gc_duration_seconds_bucket')) {
            if (label(k, 'le') === '+Inf') api.gcOver100ms += above(k, '0.1');
          } else if (k.startsWith('devicerollout_http_request_duration_seconds_bucket') && label(k, 'le') === '+Inf') {
            const route = label(k, 'route') ?? '?';
            if (!/\/device\/|^\/d\//.test(route)) continue;
            const key = `${label(k, 'method')} ${route}`;
            const s = api.slowRequests[key] ?? { over250ms: 0, over1s: 0 };
            api.slowRequests[key] = s;
            s.over250ms += above(k, '0.25');
            s.over1s += above(k, '1');
          }
        }
      });
      const top = [...clientStalls].sort((a, b) => b.requests - a.requests).slice(0, 10);
      return {
        clientStalls: top.sort((a, b) => a.startMs - b.startMs).map((st) => ({ ...st, pg: pgDuring(st, samples) })),
        clientStallCount: clientStalls.length,
        simulatorLoopDelayMaxMs: Math.round(loop.max / 1e6),
        api,
        pgCheckpoints: {
          timed: pgAfter.timed - pgBefore.timed,
          requested: pgAfter.requested - pgBefore.requested,
          writeMs: Math.round(pgAfter.writeMs - pgBefore.writeMs),
          syncMs: Math.round(pgAfter.syncMs - pgBefore.syncMs),
          buffers: pgAfter.buffers - pgBefore.buffers,
        },
        pgWal: {
          syncs: samples.reduce((a, s) => a + s.walSyncs, 0),
          syncMs: Math.round(samples.reduce((a, s) => a + s.walSyncMs, 0)),
          slowestSampleSyncMs: Math.round(Math.max(0, ...samples.map((s) => s.walSyncMs))),
        },
      };
    },
  };
}
