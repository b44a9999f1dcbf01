/**
 * `GET /metrics` (Prometheus text format): HTTP request counts and latencies per route, and — read
 * from PostgreSQL at scrape time, so every API instance reports the same truth — jobs per status,
 * pushes sent/failed per channel, rollouts per state and the progress of active rollouts.
 */
import { type RequestHandler, Router } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ACTIVE_ROLLOUT_STATES } from '../../domain/rollout-state';
import type { Db } from '../../infra/db';
import { rolloutJobGauges, statusCounts } from '../../services/installations/views';
import { messageCounts } from '../../services/messages';
import { rolloutStateCounts } from '../../services/rollouts/progress';

export interface ApiMetrics {
  registry: Registry;
  middleware: RequestHandler;
  router: Router;
}

export function createMetrics(db: Db): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'devicerollout_api_' });

  const requests = new Counter({
    name: 'devicerollout_http_requests_total',
    help: 'HTTP requests by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'devicerollout_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  new Gauge({
    name: 'devicerollout_jobs',
    help: 'Installation jobs per status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await statusCounts(db)) this.set({ status: r.status }, r.n);
    },
  });
  new Gauge({
    name: 'devicerollout_pushes',
    help: 'Messages (SMS, WAP push, binary push, mail) per channel and state (sent, failed, delivered, pending)',
    labelNames: ['channel', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await messageCounts(db)) this.set({ channel: r.channel, state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'devicerollout_rollouts',
    help: 'Rollouts per state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await rolloutStateCounts(db)) this.set({ state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'devicerollout_rollout_jobs',
    help: 'Jobs of active (scheduled, running, paused) rollouts: total, started and final',
    labelNames: ['rollout_id', 'phase'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await rolloutJobGauges(db, ACTIVE_ROLLOUT_STATES)) {
        this.set({ rollout_id: r.rolloutId, phase: 'total' }, r.total);
        this.set({ rollout_id: r.rolloutId, phase: 'started' }, r.started);
        this.set({ rollout_id: r.rolloutId, phase: 'final' }, r.final);
      }
    },
  });

  const middleware: RequestHandler = (req, res, next) => {
    const end = latency.startTimer();
    res.once('finish', () => {
      // the matched route pattern, never the raw path (tickets and ids would explode the label set)
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      requests.inc({ method: req.method, route, status: String(res.statusCode) });
      end({ method: req.method, route });
    });
    next();
  };

  const router = Router();
  router.get('/metrics', async (_req, res, next) => {
    try {
      const body = await registry.metrics();
      res.type(registry.contentType).send(body);
    } catch (err) {
      next(err);
    }
  });
  return { registry, middleware, router };
}
