/**
 * Latency samples per endpoint (client side: request sent → response body read) and percentiles.
 * Samples are kept whole (a 10,000-device run makes ~60,000 requests: a few hundred KB); slow requests
 * also with their time, so that stalls — many requests slow at once — can be told from a slow path.
 */
export interface LatencySummary {
  count: number;
  errors: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

/** A request at least `slowMs` long: when it ended (ms since the recorder's start or reset). */
export interface SlowRequest {
  endpoint: string;
  endedAtMs: number;
  ms: number;
}

/** Slow requests whose times overlap: one stall of the client, the network, the API or its database. */
export interface Stall {
  startMs: number;
  endMs: number;
  requests: number;
  endpoints: Record<string, number>;
  maxMs: number;
}

export class LatencyRecorder {
  private readonly samples = new Map<string, number[]>();
  private readonly errors = new Map<string, number>();
  private readonly statuses = new Map<string, Map<number, number>>();
  private slow: SlowRequest[] = [];
  private t0 = performance.now();

  constructor(readonly slowMs = 250) {}

  record(endpoint: string, ms: number, status: number): void {
    if (ms >= this.slowMs) this.slow.push({ endpoint, endedAtMs: performance.now() - this.t0, ms });
    let s = this.samples.get(endpoint);
    if (!s) {
      s = [];
      this.samples.set(endpoint, s);
    }
    s.push(ms);
    let st = this.statuses.get(endpoint);
    if (!st) {
      st = new Map();
      this.statuses.set(endpoint, st);
    }
    st.set(status, (st.get(status) ?? 0) + 1);
    if (status === 0 || status >= 500) this.errors.set(endpoint, (this.errors.get(endpoint) ?? 0) + 1);
  }

  /** Drops every sample (e.g. between benchmark phases). */
  reset(): void {
    this.samples.clear();
    this.errors.clear();
    this.statuses.clear();
    this.slow = [];
    this.t0 = performance.now();
  }

  /** The slow requests grouped into stalls (overlapping [end − duration, end] intervals), in time order. */
  stalls(): Stall[] {
    return groupStalls(this.slow);
  }

  endpoints(): string[] {
    return [...this.samples.keys()].sort();
  }

  summary(endpoint: string): LatencySummary {
    const s = [...(this.samples.get(endpoint) ?? [])].sort((a, b) => a - b);
    const sum = s.reduce((a, b) => a + b, 0);
    const r = (n: number) => Math.round(n * 10) / 10;
    return {
      count: s.length,
      errors: this.errors.get(endpoint) ?? 0,
      p50: r(percentile(s, 50)),
      p90: r(percentile(s, 90)),
      p99: r(percentile(s, 99)),
      max: r(s[s.length - 1] ?? Number.NaN),
      mean: r(s.length ? sum / s.length : Number.NaN),
    };
  }

  all(): Record<string, LatencySummary & { statuses: Record<string, number> }> {
    const out: Record<string, LatencySummary & { statuses: Record<string, number> }> = {};
    for (const e of this.endpoints()) {
      out[e] = { ...this.summary(e), statuses: Object.fromEntries(this.statuses.get(e) ?? []) };
    }
    return out;
  }
}

export function groupStalls(slow: readonly SlowRequest[]): Stall[] {
  const byStart = slow.map((r) => ({ ...r, startMs: r.endedAtMs - r.ms })).sort((a, b) => a.startMs - b.startMs);
  const out: Stall[] = [];
  let cur: Stall | undefined;
  for (const r of byStart) {
    if (!cur || r.startMs > cur.endMs) {
      cur = { startMs: r.startMs, endMs: r.endedAtMs, requests: 0, endpoints: {}, maxMs: 0 };
      out.push(cur);
    }
    cur.endMs = Math.max(cur.endMs, r.endedAtMs);
    cur.requests++;
    cur.endpoints[r.endpoint] = (cur.endpoints[r.endpoint] ?? 0) + 1;
    cur.maxMs = Math.max(cur.maxMs, r.ms);
  }
  return out.map((st) => ({ ...st, startMs: Math.round(st.startMs), endMs: Math.round(st.endMs), maxMs: Math.round(st.maxMs) }));
}
