/**
 * Where the device requests' stalls come from (issue 17: p99 over 150 ms in some runs, single requests
 * of 1.7 s, while p50 stayed ~12 ms). Per phase, next to the simulator's slow requests grouped into
 * stalls: the simulator's own event-loop delay (a stall of the client inflates every request it has
 * in flight), each API's event-loop lag, garbage collection and server-side slow requests (its
 * `/metrics`), and PostgreSQL's checkpoints.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Db } from '../infra/db';
import type { Stall } from '../simulator/stats';
import { scrapeMetrics } from './stack';

export interface StallReport {
  /** The simulator's slow requests (≥ 250 ms) grouped by overlap; the 10 with most requests. */
  clientStalls: Stall[];
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

/** Starts watching at a phase's start (also resets each API's lag maximum); `finish` at its end. */
export async function watchStalls(db: Db, apiUrls: readonly string[]) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const scrape = () => Promise.all(apiUrls.map((u) => scrapeMetrics(`${u}/metrics`, API_METRICS)));
  const apiBefore = await scrape();
  const pgBefore = await checkpoints(db);
  loop.enable();
  return {
    async finish(clientStalls: Stall[]): Promise<StallReport> {
      loop.disable();
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
        clientStalls: top.sort((a, b) => a.startMs - b.startMs),
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
      };
    },
  };
}
