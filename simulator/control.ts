/**
 * How the simulator starts a rollout and watches it: over the admin HTTP API (SPEC: `POST
 * /api/v1/rollouts`, `GET /api/v1/rollouts/:id`, `GET /api/v1/rollouts/:id/installations`), or —
 * where the API is not available, e.g. while the rollout API is being built — directly through
 * PostgreSQL and the Temporal client (simulator/direct.ts, which does what the API does).
 */
import { FINAL_STATUSES, type InstallStatus } from '../domain/status';
import { type ApiClient, HttpError } from './http';

export interface ScheduleRequest {
  perDay: number | 'unlimited';
  startDate?: string;
  weekdays?: string[];
  window?: { start: string; end: string };
  timeZone?: string;
}

export interface RolloutRequest {
  softwareId: string;
  /** Explicit device ids, or a platform filter (SPEC: `devices: { ids } | { filter: { platform? } }`). */
  devices: { ids: string[] } | { filter: { platform?: string } };
  options: { useDm: boolean; push: 'sms' | 'wap' | 'mark' };
  schedule: ScheduleRequest;
  notify?: string[];
}

export interface RolloutHandle {
  id: string;
  workflowId?: string;
}

interface RolloutView {
  state?: string;
  /** Jobs per status (whatever the source reports: final and non-final). */
  counts: Record<string, number>;
  total: number;
  /** Jobs in a final status. */
  final: number;
}

export interface JobView {
  id: string;
  deviceId: string;
  status: string | null;
  final: boolean;
}

export interface RolloutControl {
  /** e.g. "HTTP API" or "direct (PostgreSQL + Temporal)". */
  readonly via: string;
  start(req: RolloutRequest): Promise<RolloutHandle>;
  view(id: string): Promise<RolloutView>;
  /** Every job of the rollout (for the summary); may be expensive. */
  jobs(id: string): Promise<JobView[]>;
}

export const finalCount = (counts: Record<string, number>): number =>
  Object.entries(counts).reduce((n, [s, c]) => (FINAL_STATUSES.has(s as InstallStatus) ? n + c : n), 0);

/** The route is not there at all (as opposed to a 404 about a resource). */
const isMissingRoute = (err: unknown): boolean =>
  err instanceof HttpError &&
  err.status === 404 &&
  /no route for/i.test(String((err.body as { error?: { message?: string } })?.error?.message ?? ''));

export function httpRolloutControl(api: ApiClient): RolloutControl {
  return {
    via: 'HTTP API',
    async start(req) {
      const res = await api.expect<{ id: string; workflowId?: string }>([200, 201, 202], 'POST', '/api/v1/rollouts', {
        body: req,
        retry: false,
      });
      return { id: res.body.id, workflowId: res.body.workflowId };
    },
    async view(id) {
      const res = await api.expect<{ state?: string; counts?: Record<string, number>; total?: number }>(
        [200],
        'GET',
        `/api/v1/rollouts/${id}`,
      );
      const counts = res.body.counts ?? {};
      return { state: res.body.state, counts, total: Number(res.body.total ?? 0), final: finalCount(counts) };
    },
    async jobs(id) {
      const out: JobView[] = [];
      for (const table of ['installed', 'installing']) {
        let cursor: string | null = null;
        for (let page = 0; page < 100_000; page++) {
          const q = new URLSearchParams({ table, limit: '500' });
          if (cursor) q.set('cursor', cursor);
          const res = await api.expect<any>([200], 'GET', `/api/v1/rollouts/${id}/installations?${q}`);
          const items: any[] = res.body.installations ?? res.body.items ?? res.body.jobs ?? [];
          for (const it of items) {
            out.push({
              id: String(it.id),
              deviceId: String(it.deviceId ?? it.device?.id ?? ''),
              status: it.status ?? null,
              final: it.final ?? FINAL_STATUSES.has(it.status),
            });
          }
          cursor = res.body.nextCursor ?? null;
          if (!cursor || items.length === 0) break;
        }
      }
      return out;
    },
  };
}

/**
 * The HTTP API first; when its rollout routes do not exist (404 "no route"), the fallback — once
 * decided, for every later call too.
 */
export function withFallback(primary: RolloutControl, fallback: RolloutControl | undefined): RolloutControl {
  let use: RolloutControl = primary;
  let decided = false;
  const call = async <T>(fn: (c: RolloutControl) => Promise<T>): Promise<T> => {
    try {
      const r = await fn(use);
      decided = true;
      return r;
    } catch (err) {
      if (!decided && fallback && isMissingRoute(err)) {
        use = fallback;
        decided = true;
        return fn(use);
      }
      throw err;
    }
  };
  return {
    get via() {
      return use.via;
    },
    start: (req) => call((c) => c.start(req)),
    view: (id) => call((c) => c.view(id)),
    jobs: (id) => call((c) => c.jobs(id)),
  };
}
