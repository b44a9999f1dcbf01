/**
 * `npm run bench` — DeviceRollout's speed and scale on this machine, against the engine's own limit.
 *
 * One command: it starts the whole stack itself (PostgreSQL and the Temporal dev server from infra/,
 * the worker and the API as child processes — `worker/main.ts`, `api/main.ts` — in a temporary
 * DATA_DIR on free loopback ports) and runs:
 *  1. rollouts of N devices (default 1,000 and 10,000; `--quick`: 200 and 1,000), quota unlimited,
 *     SMS push, the fleet simulator answering over HTTP → end-to-end installs/s (rollout start → last
 *     job verified), p50/p99 of the device endpoints, peak RSS and CPU of every process, Temporal
 *     history events (and bytes) per install and per rollout run, PostgreSQL writes per install;
 *  2. the BASELINE after each (bench/baseline-workflows.ts: the same Temporal operations per device
 *     with no-op activities, no PostgreSQL, no HTTP; its own worker child process and task queue, on
 *     the same dev server) → the ratio DeviceRollout / baseline;
 *  3. a 100,000-device rollout (`--quick`: 10,000) with a daily quota of 10,000 spread over a
 *     20-minute window, paced for a few minutes (default 4; `--quick`: 1): creation time, the rollout
 *     workflow's history events per run, worker memory over time, then a cancel; extrapolated.
 * Prints the table (ours, baseline, ratio); writes docs/bench/results.json (`--quick`:
 * results-quick.json) and the chart installs-per-second.svg (+ paced.svg) beside it.
 * `--help` lists the options. The full run takes about 15–20 minutes on 2 cores (see docs/performance.md).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../devstack/child-process';
import { PROJECT_ROOT } from '../devstack/temporal-servers';
import { parseBytes, parseDuration } from '../infra/config';
import {
  httpRolloutControl,
  type RolloutControl,
  type RolloutHandle,
  type ScheduleRequest,
  withFallback,
} from '../simulator/control';
import { directRolloutControl } from '../simulator/direct';
import { Fleet, type FleetSummary } from '../simulator/fleet';
import { ApiClient } from '../simulator/http';
import { createLimiter } from '../simulator/pool';
import { createProgressPrinter } from '../simulator/progress';
import { LatencyRecorder, type LatencySummary, percentile } from '../simulator/stats';
import { cancelRolloutUpdate, installWorkflowId, rolloutProgressQuery, rolloutWorkflowId } from '../workflows/messages';
import { BASELINE_TASK_QUEUE, type BaselineRun, runBaseline, waitReady } from './baseline';
import { bucketFor, lineChartSvg, ratePerSecond, rebucket, type Series } from './chart';
import { type HistoryStats, type RunsStats, runsOf, sampleHistories, statsOf } from './histories';
import { type PgCounters, pgCounters, pgDelta, resetStatementStats, type StatementProfile, statementProfile } from './pg-stats';
import { groupOf, type PhaseUsage, waitForQuiet } from './procs';
import {
  BASELINE_WORKER_JS,
  BASELINE_WORKFLOW_BUNDLE,
  type BenchStack,
  type IpcChild,
  scrapeMetrics,
  startBenchStack,
} from './stack';
import { pgDuringText, type StallReport, watchStalls } from './stalls';

/** The rollout's workflow id: the one the API answered, or the id rollouts get by default. */
const rolloutWorkflowOf = (h: RolloutHandle) => h.workflowId ?? rolloutWorkflowId(h.id);

const HELP = `npm run bench -- [options]

  --quick                 small sizes (200 and 1,000 devices; paced 10,000 for 1 minute)
  --sizes a,b             rollout sizes                                  [1000,10000]
  --paced-devices N       devices of the paced rollout (0: skip)         [100000]
  --paced-minutes M       how long the paced rollout runs                [4]
  --paced-window M        its window length in minutes (quota 10,000/day) [40]
  --no-baseline           skip the baseline
  --concurrency N         parallel HTTP requests of the simulator        [48]
  --sync-delay DUR        device: install → system-info sync              [500ms]
  --reaction DUR          device: max delay before reacting to a push     [200ms]
  --file-size SIZE        software file size                             [128k]
  --engine dev|cluster    the Temporal engine: the dev server, or the multi-process   [dev]
                          cluster of npm run cluster (frontend, history, matching,
                          worker on PostgreSQL); its processes are summed as temporal
  --workers N             DeviceRollout worker processes     [dev 1, cluster 2]
  --apis N                DeviceRollout API processes; the simulator spreads its
                          requests over them                 [dev 1, cluster 2]
  --dev-server MODE       the Temporal dev server's persistence:                  [wal]
                            wal      SQLite file, journal_mode=wal synchronous=normal (what npm start runs)
                            journal  SQLite file, SQLite's default pragmas (what npm start ran before)
                            memory   in-memory SQLite (nothing persisted)
  --phase-limit DUR       stop a rollout phase after this (the rest is cancelled) [full 4m, quick 3m]
  --rate R                both systems start installs at R per second instead of as fast as they can:
                          our rollout with a daily quota of R × 60 × M spread over an M-minute window
                          (--rate-window), the baseline's rollout one start per timer at the same
                          spacing; each phase measures from the first start to the last of those
                          installs final (the rest of the fleet is cancelled). CPU per install below
                          capacity, at equal rate and duration: the work per install without the
                          saturated machine's elasticity
  --rate-window M         the window of --rate in minutes                            [4]
  --abba                  each size twice in the order ours, baseline, baseline, ours: the machine's
                          drift over the run cancels in the means (the ratio of a single pair moved
                          1.28–1.65× between runs of the same code on this machine)
  --v1-baseline           also the baseline with the install mix from before the local-activities
                          patch (first size only): what the patch saves on the engine
  --worker-node-flags=F   extra node/V8 flags for our workers, e.g. --worker-node-flags=--heap-growing-percent=50
  --worker-tuning JSON    run the worker with these options (bench/tuned-worker.ts), e.g.
                          '{"maxConcurrentActivityTaskExecutions":200}' (the baseline worker too)
  --out DIR               where results and charts go                    [docs/bench]
  --label NAME            results-<NAME>.json instead of results.json
  --keep                  keep the temporary DATA_DIR (logs)
  --help`;

type DevServerMode = 'journal' | 'wal' | 'memory';
const DEV_SERVER_LABEL: Record<DevServerMode, string> = {
  journal: 'SQLite file, default pragmas (rollback journal)',
  wal: 'SQLite file, journal_mode=wal synchronous=normal as npm start',
  memory: 'in-memory SQLite',
};

interface PhaseResult {
  system: 'DeviceRollout' | 'baseline' | 'baseline-v1';
  /** With --abba: 1 (ours, then the baseline) or 2 (the baseline, then ours). */
  pass?: 1 | 2;
  /** With --rate: the installs started (the quota of the window) and their planned rate. */
  paced?: { installs: number; perSecond: number; windowMinutes: number };
  /** The phase hit its time limit: the figures are for the completed part; the rest was cancelled. */
  timeLimited: boolean;
  /** Before the phase: how long it waited for other programs to leave the CPU, and their share then. */
  quiet?: { waitedS: number; busy: number };
  devices: number;
  rolloutId: string;
  allFinal: boolean;
  final: number;
  /** Rollout start → last job final. */
  elapsedS: number;
  installsPerSecond: number;
  /** Completions per second over time (1-s buckets; the chart sums them into wider ones). */
  rate: [number, number][];
  /** Rollout start → the last device was told (pushed): how fast the rollout fans out. */
  fanOutS: number;
  /** Per install: push → final (ms). */
  installLatencyMs: { p50: number; p90: number; p99: number; max: number };
  installHistory: HistoryStats;
  rolloutRuns: Omit<RunsStats, 'eventsPerRun'> & { eventsPerRun?: number[] };
  usage: PhaseUsage;
  cpuSecondsPerInstall: Record<string, number>;
  workerMetrics: Record<string, number>;
  /** DeviceRollout only */
  latency?: Record<string, LatencySummary & { statuses: Record<string, number> }>;
  requestsPerInstall?: Record<string, number>;
  pg?: PgCounters;
  pgPerInstall?: { commits: number; rowsWritten: number; tables: Record<string, number> };
  /** pg_stat_statements of the phase, per install (our database only). */
  pgStatements?: StatementProfile;
  counts?: Record<string, number>;
  mixOk?: boolean;
  registration?: { devices: number; seconds: number; perSecond: number };
  cancel?: { via: string; seconds: number; closed: boolean; progressIfOpen?: unknown };
  startCallMs?: number;
  /** DeviceRollout only: the device requests' stalls and what else stalled then (bench/stalls.ts). */
  stalls?: StallReport;
  via?: string;
  signalErrors?: number;
}

const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function metricDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d !== 0 && Number.isFinite(d)) out[k] = round(d, 3);
  }
  return out;
}

/** Sums a delta of Prometheus series by metric name (labels dropped) and keeps per-activity-type latencies. */
function summarizeWorkerMetrics(d: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(d)) {
    const name = k.replace(/\{.*$/, '');
    if (/_bucket$/.test(name)) continue;
    out[name] = round((out[name] ?? 0) + v, 3);
    const at = /activity_type="([^"]+)"/.exec(k)?.[1];
    if (at && /activity_execution_latency_(sum|count)$/.test(name)) {
      const key = `${name}{${at}}`;
      out[key] = round((out[key] ?? 0) + v, 3);
    }
  }
  return out;
}

function latencyStats(values: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: Math.round(percentile(s, 50)),
    p90: Math.round(percentile(s, 90)),
    p99: Math.round(percentile(s, 99)),
    max: Math.round(s[s.length - 1] ?? Number.NaN),
  };
}

function cpuPerInstall(u: PhaseUsage, installs: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(u.cpuSeconds)) {
    out[k] = round((v / Math.max(1, installs)) * 1000, 2); // ms per install
    // a process of a part (`worker#2`) is in the part's sum already
    if (!groupOf(k)) total += v;
  }
  out.total = round((total / Math.max(1, installs)) * 1000, 2);
  return out;
}

class Bench {
  stack!: BenchStack;
  baselineWorker?: IpcChild;
  baselineMetricsPort = 0;
  readonly results: PhaseResult[] = [];
  paced?: Record<string, unknown>;

  constructor(
    readonly o: {
      sizes: number[];
      pacedDevices: number;
      pacedMinutes: number;
      pacedWindowMin: number;
      baseline: boolean;
      concurrency: number;
      syncDelayMs: number;
      reactionMs: number;
      fileSize: number;
      devServer: DevServerMode;
      v1Baseline: boolean;
      workerTuning?: string;
      /** Extra node/V8 flags of our worker processes (`--worker-node-flags`). */
      workerNodeFlags?: string[];
      timeLimitMs: number;
      /** --rate: installs started per second by both systems (unset: as fast as they can). */
      rate?: number;
      rateWindowMin: number;
      keep: boolean;
      engine: 'dev' | 'cluster';
      workers: number;
      apis: number;
    },
  ) {}

  private apiClient(latency: LatencyRecorder): { api: ApiClient; control: RolloutControl } {
    const api = new ApiClient({
      // several API instances: the simulator takes them in turn
      baseUrl: this.stack.apiUrls.join(','),
      adminKey: this.stack.adminKey,
      latency,
      limiter: createLimiter(this.o.concurrency),
    });
    const control = withFallback(
      httpRolloutControl(api),
      directRolloutControl({
        db: this.stack.db,
        client: this.stack.client,
        taskQueue: this.stack.config.taskQueue,
        timeouts: this.stack.config.timeouts,
      }),
    );
    return { api, control };
  }

  async start(): Promise<void> {
    log(
      `starting ${this.o.engine === 'cluster' ? 'the Temporal cluster (PostgreSQL, frontend, history, matching, worker)' : 'PostgreSQL, the Temporal dev server'}, ${this.o.workers} worker(s) and ${this.o.apis} API(s) …`,
    );
    const tuned = this.o.workerTuning !== undefined;
    this.stack = await startBenchStack({
      engine: this.o.engine,
      workers: this.o.workers,
      apis: this.o.apis,
      temporalDb: this.o.devServer === 'memory' ? 'memory' : 'file',
      ...(this.o.devServer === 'journal' ? { sqlitePragmas: {} } : {}),
      keepDir: this.o.keep,
      log,
      ...(this.o.workerNodeFlags ? { workerNodeFlags: this.o.workerNodeFlags } : {}),
      ...(tuned
        ? { workerEntry: 'bench/tuned-worker.ts', workerEnv: { BENCH_WORKER_TUNING: this.o.workerTuning as string } }
        : {}),
    });
    log(`stack up: API ${this.stack.apiUrl}, Temporal ${this.stack.temporalAddress}, data ${this.stack.dir}`);
    if (this.o.baseline) {
      this.baselineMetricsPort = await freePort();
      this.baselineWorker = this.stack.spawnIpcChild('baseline-worker', BASELINE_WORKER_JS, {
        BASELINE_TASK_QUEUE,
        BASELINE_WORKFLOW_BUNDLE,
        WORKER_METRICS_ADDRESS: `127.0.0.1:${this.baselineMetricsPort}`,
        ...(tuned ? { BENCH_WORKER_TUNING: this.o.workerTuning as string } : {}),
      });
      await waitReady(this.baselineWorker);
      this.stack.sampler.track('baseline-worker', this.baselineWorker.pid);
      log('baseline worker ready');
    }
  }

  private progress() {
    const p = createProgressPrinter({ plainEveryMs: 10_000 });
    return (x: Parameters<ReturnType<typeof createProgressPrinter>['update']>[0]) => {
      if (x.phase === 'registering' && x.registered % 10_000 !== 0 && x.registered !== x.total) return;
      p.update(x);
    };
  }

  /** One DeviceRollout rollout of `size` devices with the simulator answering. */
  async ours(size: number, record = true): Promise<PhaseResult | undefined> {
    const latency = new LatencyRecorder();
    const { api, control } = this.apiClient(latency);
    log(`DeviceRollout: ${size} devices — registering`);
    const fleet = new Fleet({
      api,
      control,
      devices: size,
      platforms: ['symbian', 'android'],
      push: 'sms',
      useDm: false,
      fileSize: this.o.fileSize,
      timing: { syncDelayMs: this.o.syncDelayMs, reactionMs: this.o.reactionMs, offlineMs: 1_000, pollIntervalMs: 5_000 },
      timeoutMs: this.o.timeLimitMs,
      progressIntervalMs: 1_000,
      verify: true,
      onProgress: record ? this.progress() : undefined,
      log,
    });
    const r0 = performance.now();
    await fleet.register();
    const registerS = (performance.now() - r0) / 1000;
    await fleet.uploadSoftware();
    const quiet = record ? await this.quiet() : undefined;
    const pacing = record ? this.pacing(size) : undefined;
    let handle: RolloutHandle | undefined;
    /** Paced: the window's end + the phase limit (the fleet stops waiting then); otherwise set at the start. */
    let deadline: number | undefined;
    if (pacing) {
      // the window opens at a whole minute at least 30 s away: the rollout is made and planned before
      const opensAt = Math.ceil((Date.now() + 30_000) / 60_000) * 60_000;
      const w = pacedWindow(pacing.windowMinutes, new Date(opensAt));
      fleet.o.schedule = {
        perDay: pacing.installs,
        startDate: w.date,
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: w.start, end: w.end },
        timeZone: w.timeZone,
      };
      fleet.o.finalTarget = pacing.installs;
      deadline = opensAt + pacing.windowMinutes * 60_000 + this.o.timeLimitMs;
      fleet.o.timeoutMs = deadline - Date.now();
      handle = await fleet.startRollout();
      log(
        `DeviceRollout: ${size} devices — rollout made; ${pacing.installs} starts over ${w.timeZone} ${w.start}–${w.end} (${round(pacing.perSecond, 2)}/s)`,
      );
      await sleep(Math.max(0, opensAt - Date.now()));
    }
    const pgBefore = await pgCounters(this.stack.db);
    if (this.stack.statementStats) await resetStatementStats(this.stack.db);
    const mBefore = await scrapeMetrics(this.stack.workerMetricsUrl, /^temporal_/);
    latency.reset(); // the stalls' times count from here
    const stallWatch = await watchStalls(this.stack.db, this.stack.apiUrls);
    this.stack.sampler.mark();
    const t0 = Date.now();
    log(`DeviceRollout: ${size} devices — ${pacing ? 'window open' : 'rollout started'}`);
    if (!handle) handle = await fleet.startRollout();
    const allFinal = await fleet.waitUntilFinal();
    // paced: the window's installs are final; the rest of the fleet waits for tomorrow's quota and is cancelled
    const cutByQuota = pacing !== undefined && pacing.installs < size;
    const cut = allFinal ? Date.now() : Math.min(Date.now(), deadline ?? t0 + this.o.timeLimitMs);
    const usage = this.stack.sampler.usage();
    const stalls = await stallWatch.finish(latency.stalls());
    if (allFinal) await sleep(1_500); // PostgreSQL flushes its statistics about once a second
    const pgAtCut = await pgCounters(this.stack.db);
    const statementsAtCut = this.stack.statementStats ? await statementProfile(this.stack.db, 1) : undefined;
    const mAtCut = await scrapeMetrics(this.stack.workerMetricsUrl, /^temporal_/);
    let cancel: PhaseResult['cancel'];
    if (!allFinal || cutByQuota) {
      log(`DeviceRollout: ${size} devices — ${allFinal ? 'the window’s installs final' : 'time limit'}: cancelling the rest`);
      cancel = await this.cancel(api, handle.id, rolloutWorkflowOf(handle));
    }
    await fleet.stop(2_000);
    const summary: FleetSummary = await fleet.summary(allFinal && !cutByQuota, Date.now() - t0);
    if (!record) return undefined;
    const pg = pgDelta(pgBefore, pgAtCut);
    const workerMetrics = summarizeWorkerMetrics(metricDelta(mBefore, mAtCut));
    const rows = (
      await this.stack.db.raw(
        `SELECT i.device_id, i.status, extract(epoch from i.ended_at) * 1000 AS ended, extract(epoch from min(m.created_at)) * 1000 AS pushed
           FROM installations i LEFT JOIN messages m ON m.installation_id = i.id
          WHERE i.rollout_id = ? AND i.ended_at IS NOT NULL AND i.status <> 'Cancelled' GROUP BY i.id`,
        [handle.id],
      )
    ).rows as { device_id: string; status: string; ended: string; pushed: string | null }[];
    const done = rows.filter((r) => Number(r.ended) <= cut);
    const ended = done.map((r) => Number(r.ended));
    const pushed = rows.filter((r) => r.pushed !== null).map((r) => Number(r.pushed));
    const fanOutS = allFinal && pushed.length ? (Math.max(...pushed) - t0) / 1000 : Number.NaN;
    const installLatencyMs = latencyStats(done.filter((r) => r.pushed !== null).map((r) => Number(r.ended) - Number(r.pushed)));
    const last = allFinal && ended.length ? Math.max(...ended) : cut;
    const elapsedS = (last - t0) / 1000;
    const finalAtCut = done.length;
    // every job that ended is verified; when cut, every other one was cancelled
    const cutOk =
      rows.every((r) => r.status === 'Downloaded – Verified') &&
      ((allFinal && !cutByQuota) ||
        Object.keys(summary.counts).every((st) => st === 'Downloaded – Verified' || st === 'Cancelled'));
    log(
      `DeviceRollout: ${size} devices — ${finalAtCut} final ${allFinal ? '' : `at the ${this.o.timeLimitMs / 1000}-s limit `}after ${round(elapsedS)} s; fetching histories`,
    );
    const installHistory = statsOf(
      await sampleHistories(
        this.stack.client,
        done.map((r) => installWorkflowId(handle.id, r.device_id)),
        20,
      ),
    );
    const runs = await runsOf(this.stack.client, rolloutWorkflowOf(handle));
    const deviceEndpoints = Object.fromEntries(
      Object.entries(summary.latency).filter(([k]) => /device\/|\/d\/|messages/.test(k)),
    );
    const requestsPerInstall = Object.fromEntries(
      Object.entries(summary.latency).map(([k, v]) => [k, round(v.count / Math.max(1, finalAtCut), 2)]),
    );
    const written = pg.inserted + pg.updated + pg.deleted;
    const whole = allFinal && !cutByQuota;
    const n = Math.max(1, whole ? summary.final : finalAtCut);
    const result: PhaseResult = {
      system: 'DeviceRollout',
      quiet,
      devices: size,
      rolloutId: handle.id,
      via: summary.via,
      timeLimited: !allFinal,
      allFinal,
      ...(pacing ? { paced: pacing } : {}),
      final: whole ? summary.final : finalAtCut,
      elapsedS: round(elapsedS),
      installsPerSecond: round((whole ? summary.final : finalAtCut) / elapsedS),
      rate: [],
      fanOutS: round(fanOutS),
      installLatencyMs,
      installHistory,
      rolloutRuns: { ...runs, eventsPerRun: runs.eventsPerRun.length <= 200 ? runs.eventsPerRun : undefined },
      usage,
      cpuSecondsPerInstall: cpuPerInstall(usage, n),
      workerMetrics,
      latency: deviceEndpoints,
      requestsPerInstall,
      pg,
      pgPerInstall: {
        commits: round(pg.commits / n, 2),
        rowsWritten: round(written / n, 2),
        tables: Object.fromEntries(Object.entries(pg.tables).map(([t, v]) => [t, round((v.ins + v.upd + v.del) / n, 2)])),
      },
      ...(statementsAtCut ? { pgStatements: perInstallStatements(statementsAtCut, n) } : {}),
      counts: summary.counts,
      mixOk: whole ? summary.mixOk : cutOk,
      ...(cancel ? { cancel } : {}),
      registration: { devices: size, seconds: round(registerS), perSecond: round(size / registerS) },
      startCallMs: summary.startMs,
      stalls,
    };
    const worst = stalls.clientStalls.reduce(
      (a, b) => (b.requests > (a?.requests ?? 0) ? b : a),
      undefined as StallReport['clientStalls'][number] | undefined,
    );
    log(
      `DeviceRollout: ${size} devices — ${stalls.clientStallCount} stalls of the simulator's requests (worst: ${worst ? `${worst.requests} requests, ${worst.maxMs} ms at ${round(worst.startMs / 1000)} s${worst.pg ? `, PostgreSQL then: ${pgDuringText(worst.pg)}` : ''}` : 'none'}); ` +
        `simulator loop ≤ ${stalls.simulatorLoopDelayMaxMs} ms, API loop ≤ ${stalls.api.loopLagMaxMs} ms, API GC over 100 ms ${stalls.api.gcOver100ms}, ` +
        `PostgreSQL checkpoints ${stalls.pgCheckpoints.timed + stalls.pgCheckpoints.requested} (sync ${stalls.pgCheckpoints.syncMs} ms), ` +
        `WAL flushes ${stalls.pgWal.syncs} (${stalls.pgWal.syncMs} ms, at most ${stalls.pgWal.slowestSampleSyncMs} ms in 250 ms)` +
        (statementsAtCut
          ? `, its slowest statement call ${statementsAtCut.slowest[0] ? `${statementsAtCut.slowest[0].maxMs} ms (${statementsAtCut.slowest[0].query.slice(0, 60)}…)` : 'under 100 ms'}`
          : ''),
    );
    (result as PhaseResult & { completions?: number[]; t0?: number }).completions = ended;
    (result as PhaseResult & { completions?: number[]; t0?: number }).t0 = t0;
    this.results.push(result);
    return result;
  }

  async baseline(size: number, record = true, variant: 'same' | 'v1' = 'same'): Promise<PhaseResult | undefined> {
    if (!this.baselineWorker) return undefined;
    log(`baseline${variant === 'v1' ? ' (v1: the install mix before the local-activities patch)' : ''}: ${size} devices`);
    const metricsUrl = `http://127.0.0.1:${this.baselineMetricsPort}/metrics`;
    const quiet = record ? await this.quiet() : undefined;
    const pacing = record ? this.pacing(size) : undefined;
    const total = pacing?.installs ?? size;
    const mBefore = await scrapeMetrics(metricsUrl, /^temporal_/);
    this.stack.sampler.mark();
    const run: BaselineRun = await runBaseline(this.stack.client, this.baselineWorker, {
      total,
      syncDelayMs: this.o.syncDelayMs,
      reactionMs: this.o.reactionMs,
      concurrency: this.o.concurrency,
      timeLimitMs: pacing ? pacing.windowMinutes * 60_000 + this.o.timeLimitMs : this.o.timeLimitMs,
      variant,
      ...(pacing ? { startIntervalMs: 1000 / pacing.perSecond } : {}),
    });
    const usage = this.stack.sampler.usage();
    if (!record) return undefined;
    const workerMetrics = summarizeWorkerMetrics(metricDelta(mBefore, await scrapeMetrics(metricsUrl, /^temporal_/)));
    const elapsedS = run.elapsedMs / 1000;
    log(`baseline: ${size} devices — ${run.completions.length} final in ${round(elapsedS)} s; fetching histories`);
    const installHistory = statsOf(
      await sampleHistories(
        this.stack.client,
        [...run.finalAt.keys()].map((seq) => run.installWorkflowIds[seq] as string),
        20,
      ),
    );
    const runs = await runsOf(this.stack.client, run.workflowId);
    const result: PhaseResult = {
      system: variant === 'v1' ? 'baseline-v1' : 'baseline',
      quiet,
      timeLimited: run.timedOut,
      devices: size,
      rolloutId: run.rolloutId,
      ...(pacing ? { paced: pacing } : {}),
      allFinal: run.completions.length === total,
      final: run.completions.length,
      elapsedS: round(elapsedS),
      installsPerSecond: round(run.completions.length / elapsedS),
      rate: [],
      fanOutS: run.timedOut ? Number.NaN : round((Math.max(...run.pushAt.values()) - run.startedAt) / 1000),
      installLatencyMs: latencyStats([...run.finalAt].map(([seq, at]) => at - (run.pushAt.get(seq) ?? at))),
      installHistory,
      rolloutRuns: { ...runs, eventsPerRun: runs.eventsPerRun.length <= 200 ? runs.eventsPerRun : undefined },
      usage,
      cpuSecondsPerInstall: cpuPerInstall(usage, run.completions.length),
      workerMetrics,
      signalErrors: run.signalErrors,
    };
    (result as PhaseResult & { completions?: number[]; t0?: number }).completions = run.completions;
    (result as PhaseResult & { completions?: number[]; t0?: number }).t0 = run.startedAt;
    this.results.push(result);
    return result;
  }

  /** --rate: how many installs a phase of `size` devices starts, at what rate (undefined without --rate). */
  private pacing(size: number): PhaseResult['paced'] {
    if (this.o.rate === undefined) return undefined;
    const windowMinutes = this.o.rateWindowMin;
    const installs = Math.min(size, Math.round(this.o.rate * 60 * windowMinutes));
    return { installs, perSecond: installs / (60 * windowMinutes), windowMinutes };
  }

  /** The paced rollout: quota 10,000/day over a short window, for a few minutes, then cancelled. */
  async pacedRun(): Promise<void> {
    const n = this.o.pacedDevices;
    if (n <= 0) return;
    const latency = new LatencyRecorder();
    const { api, control } = this.apiClient(latency);
    let window = pacedWindow(this.o.pacedWindowMin);
    log(`paced: ${n} devices (platform windows-ce), quota 10,000/day over a ${this.o.pacedWindowMin}-minute window from now`);
    const fleet = new Fleet({
      api,
      control,
      devices: n,
      platforms: ['windows-ce'],
      selectByPlatform: 'windows-ce',
      push: 'sms',
      useDm: false,
      fileSize: this.o.fileSize,
      timing: { syncDelayMs: this.o.syncDelayMs, reactionMs: this.o.reactionMs, offlineMs: 1_000, pollIntervalMs: 5_000 },
      schedule: {
        perDay: 10_000,
        startDate: window.date,
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: window.start, end: window.end },
        timeZone: window.timeZone,
      },
      timeoutMs: this.o.pacedMinutes * 60_000 + 60_000,
      verify: false,
      onProgress: this.progress(),
      log,
    });
    const r0 = performance.now();
    await fleet.register();
    const registerS = (performance.now() - r0) / 1000;
    log(`paced: registered ${n} devices in ${round(registerS)} s`);
    await fleet.uploadSoftware();
    const quiet = await this.quiet();
    window = pacedWindow(this.o.pacedWindowMin); // from now on
    fleet.o.schedule = {
      ...(fleet.o.schedule as ScheduleRequest),
      startDate: window.date,
      window: { start: window.start, end: window.end },
      timeZone: window.timeZone,
    };
    log(`paced: window ${window.timeZone} ${window.date} ${window.start}–${window.end}`);
    const sampler = this.stack.sampler;
    sampler.series.length = 0;
    sampler.keepSeries = true;
    sampler.mark();
    const pgBefore = await pgCounters(this.stack.db);
    const t0 = Date.now();
    const handle = await fleet.startRollout();
    const creationMs = Date.now() - t0;
    log(`paced: rollout of ${n} devices created in ${creationMs} ms (${fleet.control.via})`);
    const wfId = rolloutWorkflowOf(handle);
    const timeline: { t: number; started: number; final: number; workerRssMb?: number }[] = [];
    const end = t0 + this.o.pacedMinutes * 60_000;
    while (Date.now() < end) {
      await sleep(Math.min(10_000, Math.max(0, end - Date.now())));
      const r = (
        await this.stack.db.raw(
          `SELECT count(started_at)::int AS started, count(*) FILTER (WHERE final)::int AS final FROM installations WHERE rollout_id = ?`,
          [handle.id],
        )
      ).rows[0] as { started: number; final: number };
      const rss = sampler.series[sampler.series.length - 1]?.rss.worker;
      timeline.push({ t: round((Date.now() - t0) / 1000), started: r.started, final: r.final, workerRssMb: rss });
      log(`paced: ${round((Date.now() - t0) / 1000)} s — ${r.started} started, ${r.final} final, worker RSS ${rss} MB`);
    }
    const usage = sampler.usage();
    const progress = await this.stack.client.workflow
      .getHandle(wfId)
      .query(rolloutProgressQuery)
      .catch(() => undefined);
    const runs = await runsOf(this.stack.client, wfId);
    const workerRss = sampler.series.map((s) => s.rss.worker ?? 0);
    // cancel: not-started jobs cancelled in one statement, outstanding children cancelled
    const cancel = await this.cancel(api, handle.id, wfId);
    sampler.keepSeries = false;
    await fleet.stop(1_000);
    const pg = pgDelta(pgBefore, await pgCounters(this.stack.db));
    const last = timeline[timeline.length - 1] ?? { started: 0, final: 0, t: 0 };
    const startsPerSecond = last.t > 0 ? last.started / last.t : 0;
    const perRun = runs.eventsPerRun;
    const meanPerRun = perRun.length ? perRun.reduce((a, b) => a + b, 0) / perRun.length : 0;
    const startsPerRun = 1000;
    const runsNeeded = Math.ceil(n / startsPerRun);
    this.paced = {
      devices: n,
      quiet,
      schedule: { perDay: 10_000, window, minutes: this.o.pacedMinutes },
      via: fleet.control.via,
      registration: { seconds: round(registerS), perSecond: round(n / registerS) },
      creationMs,
      started: last.started,
      final: last.final,
      startsPerSecond: round(startsPerSecond, 2),
      plannedStartsPerSecond: round(10_000 / (this.o.pacedWindowMin * 60), 2),
      nextStartAt: progress?.nextStartAt ?? null,
      rolloutRuns: { runs: runs.runs, eventsPerRun: perRun, maxEventsPerRun: runs.maxEventsPerRun, byType: runs.byType },
      workerRssMb: { peak: usage.peakRssMb.worker, first: workerRss[0], last: workerRss[workerRss.length - 1] },
      apiRssMb: usage.peakRssMb.api,
      usage,
      timeline,
      memorySeries: sampler.series.map((s) => ({ t: s.t, worker: s.rss.worker, api: s.rss.api, temporal: s.rss.temporal })),
      pg: { commits: pg.commits, inserted: pg.inserted, updated: pg.updated, tables: pg.tables },
      cancel,
      extrapolation: {
        daysAtQuota: Math.ceil(n / 10_000),
        runsNeeded,
        rolloutHistoryEventsTotal: Math.round(meanPerRun * runsNeeded),
        note: 'a run continues as new after 1,000 starts (or 6,000 events): the rollout history grows by runs, each bounded',
      },
    };
  }

  /** Waits up to 90 s for other programs to leave the CPU (see `waitForQuiet`). */
  async quiet(): Promise<{ waitedS: number; busy: number }> {
    const q = await waitForQuiet(90_000);
    if (q.waitedS > 3.5)
      log(`waited ${q.waitedS} s for other programs to leave the CPU (busy ${Math.round(q.busy * 100)} % then)`);
    return q;
  }

  /** Cancels a rollout (the API's cancel, or the workflow Update when the API has none) and waits until it closed. */
  async cancel(
    api: ApiClient,
    rolloutId: string,
    workflowId: string,
  ): Promise<{ via: string; seconds: number; closed: boolean; progressIfOpen?: unknown }> {
    const c0 = Date.now();
    let via = 'HTTP API';
    const res = await api.request('POST', `/api/v1/rollouts/${rolloutId}/cancel`, { body: { reason: 'benchmark time limit' } });
    if (res.status === 404) {
      via = 'Temporal Update (no rollout API)';
      await this.stack.client.workflow
        .getHandle(workflowId)
        .executeUpdate(cancelRolloutUpdate, { args: [{ reason: 'benchmark time limit' }] });
    }
    let closed = false;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const row = await this.stack.db('rollouts').where({ id: rolloutId }).first('completed_at');
      if (row?.completed_at) {
        closed = true;
        break;
      }
      await sleep(500);
    }
    if (!closed) {
      const progress = await this.stack.client.workflow
        .getHandle(workflowId)
        .query(rolloutProgressQuery)
        .catch((err) => String(err));
      log(`WARNING: rollout ${rolloutId} not closed 90 s after its cancel: ${JSON.stringify(progress)}`);
      return { via, seconds: round((Date.now() - c0) / 1000), closed, progressIfOpen: progress };
    }
    return { via, seconds: round((Date.now() - c0) / 1000), closed };
  }

  async stop(): Promise<void> {
    await this.stack?.stop();
  }
}

/** A window of `minutes` starting `from` (floored to the minute) in a time zone where it does not cross midnight. */
export function pacedWindow(minutes: number, from = new Date()): { timeZone: string; date: string; start: string; end: string } {
  const now = from;
  for (const timeZone of ['UTC', 'Asia/Tokyo', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'America/Los_Angeles']) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      })
        .formatToParts(now)
        .map((p) => [p.type, p.value]),
    ) as Record<string, string>;
    const startMin = Number(parts.hour) * 60 + Number(parts.minute);
    const endMin = startMin + minutes;
    if (endMin >= 24 * 60 - 1) continue;
    const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    return { timeZone, date: `${parts.year}-${parts.month}-${parts.day}`, start: hhmm(startMin), end: hhmm(endMin) };
  }
  throw new Error('no time zone without midnight in the next minutes (cannot happen)');
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function metricMean(r: PhaseResult, name: string): number | undefined {
  const sum = r.workerMetrics[`${name}_sum`];
  const count = r.workerMetrics[`${name}_count`];
  return sum !== undefined && count ? sum / count : undefined;
}

/** --abba: CPU per install of both passes, their means and the ratio of the means (undefined without). */
function abbaRatio(results: PhaseResult[], size: number) {
  const cpu = (system: PhaseResult['system']) =>
    results
      .filter((r) => r.devices === size && r.system === system && r.pass)
      .map((r) => r.cpuSecondsPerInstall.total ?? Number.NaN);
  const ours = cpu('DeviceRollout');
  const base = cpu('baseline');
  if (ours.length !== 2 || base.length !== 2) return undefined;
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  return {
    ours: ours.map((v) => round(v)),
    baseline: base.map((v) => round(v)),
    ratio: round(mean(ours) / mean(base), 2),
    perPass: ours.map((v, i) => round(v / (base[i] as number), 2)),
  };
}

function table(results: PhaseResult[]): string {
  const sizes = [...new Set(results.map((r) => r.devices))];
  const lines: string[] = [];
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
  const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '–' : String(round(v, d)));
  const header = [pad('', 40), ...sizes.map((s) => pad(`${s.toLocaleString('en-US')} devices: ours / baseline / ratio`, 42))];
  lines.push(header.join(' | '));
  lines.push('-'.repeat(header.join(' | ').length));
  type Row = [string, (r: PhaseResult) => number | undefined, 'higher' | 'lower' | 'none', number?];
  const rows: Row[] = [
    ['installs final (time-limited phases: at the limit)', (r) => r.final, 'none', 0],
    ['installs/s (rollout start → last verified)', (r) => r.installsPerSecond, 'higher'],
    ['time to all final (s)', (r) => r.elapsedS, 'lower'],
    ['fan-out: start → last device pushed (s)', (r) => r.fanOutS, 'lower'],
    ['install latency push → final p50 (ms)', (r) => r.installLatencyMs.p50, 'lower', 0],
    ['install latency push → final p99 (ms)', (r) => r.installLatencyMs.p99, 'lower', 0],
    ['history events per install (mean)', (r) => r.installHistory.meanEvents, 'lower'],
    ['history bytes per install (mean)', (r) => r.installHistory.meanBytes, 'lower'],
    ['rollout runs (continue-as-new)', (r) => r.rolloutRuns.runs, 'none', 0],
    ['history events per rollout run (max)', (r) => r.rolloutRuns.maxEventsPerRun, 'lower', 0],
    ['CPU ms per install, all processes', (r) => r.cpuSecondsPerInstall.total, 'lower'],
    [
      'capacity if CPU-bound: cores / CPU per install (/s)',
      (r) => (os.cpus().length * 1000) / (r.cpuSecondsPerInstall.total ?? Number.NaN),
      'higher',
    ],
    ['  Temporal (dev server, or the cluster summed)', (r) => r.cpuSecondsPerInstall.temporal, 'lower'],
    ['    frontend', (r) => r.cpuSecondsPerInstall['temporal#frontend'], 'lower'],
    ['    history', (r) => r.cpuSecondsPerInstall['temporal#history'], 'lower'],
    ['    matching', (r) => r.cpuSecondsPerInstall['temporal#matching'], 'lower'],
    ['    worker service', (r) => r.cpuSecondsPerInstall['temporal#worker'], 'lower'],
    [
      '  worker (ours) / baseline worker',
      (r) => r.cpuSecondsPerInstall[r.system === 'baseline' ? 'baseline-worker' : 'worker'],
      'lower',
    ],
    ['  API', (r) => (r.system === 'baseline' ? undefined : r.cpuSecondsPerInstall.api), 'lower'],
    ['  PostgreSQL', (r) => (r.system === 'baseline' ? undefined : r.cpuSecondsPerInstall.postgres), 'lower'],
    ['  simulator + driver (bench process)', (r) => r.cpuSecondsPerInstall.bench, 'lower'],
    ['peak RSS worker (MB)', (r) => r.usage.peakRssMb[r.system === 'baseline' ? 'baseline-worker' : 'worker'], 'lower', 0],
    ['peak RSS API (MB)', (r) => (r.system === 'baseline' ? undefined : r.usage.peakRssMb.api), 'lower', 0],
    ['peak RSS Temporal (largest process, MB)', (r) => r.usage.peakRssMb.temporal, 'lower', 0],
    ['worker: workflow task execution, mean (ms)', (r) => metricMean(r, 'temporal_workflow_task_execution_latency'), 'lower'],
    [
      'worker: workflow task schedule→start, mean (ms)',
      (r) => metricMean(r, 'temporal_workflow_task_schedule_to_start_latency'),
      'lower',
    ],
    ['worker: activity schedule→start, mean (ms)', (r) => metricMean(r, 'temporal_activity_schedule_to_start_latency'), 'lower'],
    ['worker: activity execution, mean (ms)', (r) => metricMean(r, 'temporal_activity_execution_latency'), 'lower'],
    ['machine CPU busy (%)', (r) => r.usage.machineBusy * 100, 'none', 0],
    ['machine CPU iowait (%)', (r) => r.usage.machineIowait * 100, 'none', 0],
    ['CPU ms per install of OTHER processes', (r) => (r.usage.otherCpuSeconds / Math.max(1, r.final)) * 1000, 'none'],
  ];
  for (const [label, get, , d] of rows) {
    const cells = sizes.map((s) => {
      const ours = results.find((r) => r.devices === s && r.system === 'DeviceRollout');
      const base = results.find((r) => r.devices === s && r.system === 'baseline');
      const a = ours ? get(ours) : undefined;
      const b = base ? get(base) : undefined;
      const ratio = a !== undefined && b !== undefined && b !== 0 ? `${fmt(a / b, 2)}×` : '–';
      return pad(`${lpad(fmt(a, d ?? 1), 10)} / ${lpad(fmt(b, d ?? 1), 10)} / ${lpad(ratio, 8)}`, 42);
    });
    lines.push([pad(label, 40), ...cells].join(' | '));
  }
  for (const r of results.filter((x) => x.timeLimited)) {
    lines.push(
      `  (${r.system}, ${r.devices.toLocaleString('en-US')} devices: stopped at the phase limit after ${r.elapsedS} s with ${r.final} installs final; the rest was cancelled)`,
    );
  }
  for (const s of sizes) {
    const a = abbaRatio(results, s);
    if (!a) continue;
    lines.push(
      `  ABBA, ${s.toLocaleString('en-US')} devices: CPU ms per install ours ${a.ours.join(' → ')}, baseline ${a.baseline.join(' → ')}; ` +
        `ratio of the means ${a.ratio}× (pass 1 ${a.perPass[0]}×, pass 2 ${a.perPass[1]}×; the columns above are pass 1)`,
    );
  }
  const v1 = results.filter((r) => r.system === 'baseline-v1');
  for (const b of v1) {
    const l = results.find((r) => r.devices === b.devices && r.system === 'baseline');
    if (!l) continue;
    lines.push('');
    lines.push(
      `Engine cost of the install mix (${b.devices.toLocaleString('en-US')} devices): before the local-activities patch → now`,
    );
    const cmp = (label: string, a: number | undefined, c: number | undefined, d = 1) =>
      lines.push(`  ${pad(label, 44)} ${lpad(fmt(a, d), 9)} → ${lpad(fmt(c, d), 9)}   (${a && c ? `${fmt(c / a, 2)}×` : '–'})`);
    cmp('installs/s', b.installsPerSecond, l.installsPerSecond);
    cmp('history events per install', b.installHistory.meanEvents, l.installHistory.meanEvents);
    cmp('Temporal dev server CPU ms per install', b.cpuSecondsPerInstall.temporal, l.cpuSecondsPerInstall.temporal);
    cmp('worker CPU ms per install', b.cpuSecondsPerInstall['baseline-worker'], l.cpuSecondsPerInstall['baseline-worker']);
    cmp('install latency push → final p50 (ms)', b.installLatencyMs.p50, l.installLatencyMs.p50, 0);
  }
  lines.push('');
  lines.push('DeviceRollout device endpoints under load (client side, ms):');
  for (const s of sizes) {
    const ours = results.find((r) => r.devices === s && r.system === 'DeviceRollout');
    if (!ours?.latency) continue;
    for (const [e, l] of Object.entries(ours.latency)) {
      lines.push(
        `  ${pad(s.toLocaleString('en-US'), 7)} ${pad(e, 36)} n=${lpad(String(l.count), 6)}  p50 ${lpad(fmt(l.p50), 7)}  p99 ${lpad(fmt(l.p99), 7)}  max ${lpad(fmt(l.max), 7)}  5xx/errors ${l.errors}`,
      );
    }
    if (ours.pgPerInstall) {
      lines.push(
        `  ${pad(s.toLocaleString('en-US'), 7)} PostgreSQL per install: ${ours.pgPerInstall.commits} commits, ${ours.pgPerInstall.rowsWritten} rows written (${Object.entries(
          ours.pgPerInstall.tables,
        )
          .map(([t, v]) => `${t} ${v}`)
          .join(', ')})`,
      );
    }
  }
  return lines.join('\n');
}

function pacedText(p: Record<string, any> | undefined): string {
  if (!p) return '';
  return [
    '',
    `Paced rollout: ${p.devices.toLocaleString('en-US')} devices, quota 10,000/day over ${p.schedule.window.start}–${p.schedule.window.end} ${p.schedule.window.timeZone}, ${p.schedule.minutes} min (${p.via})`,
    `  registration ${p.registration.seconds} s (${p.registration.perSecond}/s); rollout created in ${p.creationMs} ms`,
    `  ${p.started} started (${p.startsPerSecond}/s, planned ${p.plannedStartsPerSecond}/s), ${p.final} final; next start ${p.nextStartAt ?? '–'}`,
    `  rollout workflow: ${p.rolloutRuns.runs} run(s), events per run ${p.rolloutRuns.eventsPerRun.join(', ')} (max ${p.rolloutRuns.maxEventsPerRun})`,
    `  worker RSS: first ${p.workerRssMb.first} MB, last ${p.workerRssMb.last} MB, peak ${p.workerRssMb.peak} MB; API peak ${p.apiRssMb} MB`,
    `  cancel (${p.cancel.via}): ${p.cancel.closed ? `rollout closed after ${p.cancel.seconds} s` : `not closed after ${p.cancel.seconds} s`}`,
    `  extrapolated: ${p.extrapolation.daysAtQuota} days at the quota, ${p.extrapolation.runsNeeded} runs, ~${p.extrapolation.rolloutHistoryEventsTotal.toLocaleString('en-US')} rollout history events in total`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      'paced-devices': { type: 'string' },
      'paced-minutes': { type: 'string' },
      'paced-window': { type: 'string', default: '40' },
      'no-baseline': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '48' },
      'sync-delay': { type: 'string', default: '500ms' },
      reaction: { type: 'string', default: '200ms' },
      'file-size': { type: 'string', default: '128k' },
      'dev-server': { type: 'string', default: 'wal' },
      engine: { type: 'string', default: 'dev' },
      workers: { type: 'string' },
      apis: { type: 'string' },
      'phase-limit': { type: 'string' },
      rate: { type: 'string' },
      'rate-window': { type: 'string', default: '4' },
      'v1-baseline': { type: 'boolean', default: false },
      abba: { type: 'boolean', default: false },
      'worker-tuning': { type: 'string' },
      'worker-node-flags': { type: 'string' },
      out: { type: 'string', default: 'docs/bench' },
      label: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const quick = values.quick;
  const sizes = (values.sizes ?? (quick ? '200,1000' : '1000,10000')).split(',').map((s) => Number(s.trim()));
  for (const s of sizes) if (!Number.isInteger(s) || s < 1) throw new Error(`--sizes: ${s} is not a size`);
  const devServer = values['dev-server'];
  if (devServer !== 'journal' && devServer !== 'wal' && devServer !== 'memory')
    throw new Error('--dev-server: wal, journal or memory');
  if (values['worker-tuning'] !== undefined) JSON.parse(values['worker-tuning']);
  const engine = values.engine;
  if (engine !== 'dev' && engine !== 'cluster') throw new Error('--engine: dev or cluster');
  const count = (v: string | undefined, fallback: number, name: string) => {
    const n = Number(v ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: ${v} is not a count`);
    return n;
  };
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0 && rate <= 100))
    throw new Error(`--rate: ${values.rate} is not a rate (installs per second, 0–100)`);
  const bench = new Bench({
    engine,
    workers: count(values.workers, engine === 'cluster' ? 2 : 1, '--workers'),
    apis: count(values.apis, engine === 'cluster' ? 2 : 1, '--apis'),
    sizes,
    pacedDevices: Number(values['paced-devices'] ?? (quick ? 10_000 : 100_000)),
    pacedMinutes: Number(values['paced-minutes'] ?? (quick ? 1 : 4)),
    pacedWindowMin: Number(values['paced-window']),
    baseline: !values['no-baseline'],
    concurrency: Number(values.concurrency),
    syncDelayMs: parseDuration(values['sync-delay'], '--sync-delay'),
    reactionMs: parseDuration(values.reaction, '--reaction'),
    fileSize: parseBytes(values['file-size'], '--file-size'),
    devServer,
    v1Baseline: values['v1-baseline'] && !values['no-baseline'],
    workerTuning: values['worker-tuning'],
    workerNodeFlags: values['worker-node-flags']?.split(/\s+/).filter(Boolean),
    timeLimitMs: parseDuration(values['phase-limit'] ?? (quick ? '3m' : '4m'), '--phase-limit'),
    ...(rate !== undefined ? { rate } : {}),
    rateWindowMin: count(values['rate-window'], 4, '--rate-window'),
    keep: values.keep,
  });
  const began = Date.now();
  const stopOnSignal = () => {
    log('interrupted: stopping the stack');
    void bench.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    await bench.start();
    log('warm-up (not measured): 50 devices, then the baseline');
    await bench.ours(50, false);
    await bench.baseline(50, false);
    for (const [i, size] of sizes.entries()) {
      const first = [await bench.ours(size), await bench.baseline(size)];
      if (i === 0 && bench.o.v1Baseline) await bench.baseline(size, true, 'v1');
      if (values.abba) {
        const second = [await bench.baseline(size), await bench.ours(size)];
        for (const r of first) if (r) r.pass = 1;
        for (const r of second) if (r) r.pass = 2;
      }
    }
    await bench.pacedRun();
  } finally {
    await bench.stop();
  }

  // rates over time and the chart
  const longest = Math.max(1, ...bench.results.map((r) => r.elapsedS));
  const bucket = bucketFor(longest);
  for (const r of bench.results) {
    const x = r as PhaseResult & { completions?: number[]; t0?: number };
    r.rate = ratePerSecond(x.completions ?? [], x.t0 ?? 0, 1).map(([t, v]) => [round(t), round(v)]);
    delete x.completions;
    delete x.t0;
  }
  const colors: Record<string, string> = { DeviceRollout: '#1f6feb', baseline: '#d9480f', 'baseline-v1': '#2f9e44' };
  const series: Series[] = bench.results.map((r) => ({
    label: `${r.system}, ${r.devices.toLocaleString('en-US')} devices${r.pass ? `, pass ${r.pass}` : ''} (${r.installsPerSecond}/s overall)`,
    color: colors[r.system] ?? '#333',
    dashed: r.devices !== Math.max(...sizes),
    points: rebucket(r.rate, bucket),
  }));
  const outDir = path.resolve(PROJECT_ROOT, values.out);
  await fs.mkdir(outDir, { recursive: true });
  const suffix = values.label ? `-${values.label}` : quick ? '-quick' : '';
  const cpus = os.cpus();
  const subtitle = `${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GB; ${engine === 'cluster' ? 'Temporal cluster (frontend, history, matching, worker processes on PostgreSQL)' : `Temporal dev server (${DEV_SERVER_LABEL[devServer]})`}, PostgreSQL, ${bench.o.workers} worker(s) and ${bench.o.apis} API(s) as processes; ${bucket}-s buckets`;
  await fs.writeFile(
    path.join(outDir, `installs-per-second${suffix}.svg`),
    lineChartSvg(series, {
      title: `Installs completed per second (rollout start → Downloaded – Verified), ${bench.o.rate !== undefined ? `both paced at ${bench.o.rate}/s` : 'quota unlimited'}`,
      subtitle,
      xLabel: 'seconds since the rollout started',
      yLabel: 'installs per second',
    }),
  );
  if (bench.paced) {
    const tl = (bench.paced.timeline ?? []) as { t: number; started: number; final: number }[];
    const diff = (key: 'started' | 'final'): [number, number][] =>
      tl.map((p, i) => {
        const prev = i > 0 ? (tl[i - 1] as (typeof tl)[number]) : { t: 0, started: 0, final: 0 };
        return [p.t, round((p[key] - prev[key]) / Math.max(0.001, p.t - prev.t), 2)];
      });
    const mem = (bench.paced.memorySeries ?? []) as { t: number; worker?: number }[];
    const t0 = mem[0]?.t ?? 0;
    await fs.writeFile(
      path.join(outDir, `paced${suffix}.svg`),
      lineChartSvg(
        [
          { label: 'installs started per second', color: '#1f6feb', points: diff('started') },
          { label: 'installs final per second', color: '#2f9e44', points: diff('final') },
          {
            label: 'worker RSS / 100 MB',
            color: '#868e96',
            dashed: true,
            points: mem.filter((m) => m.worker !== undefined).map((m) => [round(m.t - t0), round((m.worker as number) / 100, 2)]),
          },
        ],
        {
          title: `Paced rollout: ${Number(bench.paced.devices).toLocaleString('en-US')} devices, quota 10,000/day over a ${bench.o.pacedWindowMin}-minute window`,
          subtitle,
          xLabel: 'seconds since the rollout was created',
          yLabel: 'per second  /  hundreds of MB',
        },
      ),
    );
  }
  const doc = {
    generatedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationMinutes: round((Date.now() - began) / 60_000),
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    settings: {
      sizes,
      engine,
      workers: bench.o.workers,
      apis: bench.o.apis,
      devServer: engine === 'dev' ? `${devServer}: ${DEV_SERVER_LABEL[devServer]}` : null,
      phaseLimitS: bench.o.timeLimitMs / 1000,
      ...(bench.o.rate !== undefined
        ? {
            rate: {
              perSecond: bench.o.rate,
              windowMinutes: bench.o.rateWindowMin,
              note: 'both systems paced: CPU per install at equal rate below capacity',
            },
          }
        : {}),
      ...(values.abba ? { order: 'abba: ours, baseline, baseline, ours per size' } : {}),
      workerTuning: values['worker-tuning'] ? JSON.parse(values['worker-tuning']) : 'SDK defaults (worker/main.ts)',
      ...(values['worker-node-flags'] ? { workerNodeFlags: values['worker-node-flags'] } : {}),
      push: 'sms',
      platforms: ['symbian', 'android'],
      syncDelayMs: bench.o.syncDelayMs,
      reactionMs: bench.o.reactionMs,
      fileSize: bench.o.fileSize,
      simulatorConcurrency: bench.o.concurrency,
    },
    results: bench.results,
    ratios: sizes.map((s) => {
      const a = bench.results.find((r) => r.devices === s && r.system === 'DeviceRollout');
      const b = bench.results.find((r) => r.devices === s && r.system === 'baseline');
      const abba = abbaRatio(bench.results, s);
      return {
        devices: s,
        installsPerSecond: a && b ? round(a.installsPerSecond / b.installsPerSecond, 2) : null,
        // with --abba: the means of both passes; the pairs' own ratios beside them
        cpuPerInstall: abba
          ? abba.ratio
          : a && b
            ? round((a.cpuSecondsPerInstall.total ?? 0) / (b.cpuSecondsPerInstall.total ?? 1), 2)
            : null,
        ...(abba ? { cpuPerInstallAbba: abba } : {}),
        historyEventsPerInstall: a && b ? round(a.installHistory.meanEvents / b.installHistory.meanEvents, 2) : null,
      };
    }),
    paced: bench.paced ?? null,
  };
  await fs.writeFile(path.join(outDir, `results${suffix}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`\n${table(bench.results)}\n${pacedText(bench.paced)}\n\n`);
  process.stdout.write(
    `results: ${path.relative(PROJECT_ROOT, path.join(outDir, `results${suffix}.json`))}, chart: ${path.relative(PROJECT_ROOT, path.join(outDir, `installs-per-second${suffix}.svg`))} (${round((Date.now() - began) / 60_000)} min)\n`,
  );
  const failed = bench.results.filter((r) => (!r.allFinal && !r.timeLimited) || r.mixOk === false);
  for (const r of failed) process.stdout.write(`WARNING: ${r.system} ${r.devices}: not every job ended as expected\n`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(2);
  },
);

/** A statement profile taken with `installs = 1`, divided by the phase's installs. */
function perInstallStatements(p: StatementProfile, n: number): StatementProfile {
  const d = (x: number) => round(x / n, 2);
  return {
    callsPerInstall: d(p.callsPerInstall),
    execMsPerInstall: d(p.execMsPerInstall),
    planMsPerInstall: d(p.planMsPerInstall),
    top: p.top.map((t) => ({
      ...t,
      callsPerInstall: d(t.callsPerInstall),
      msPerInstall: d(t.msPerInstall),
      planMsPerInstall: d(t.planMsPerInstall),
    })),
    slowest: p.slowest,
  };
}
