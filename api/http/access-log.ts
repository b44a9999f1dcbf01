import type { RequestHandler } from 'express';
import type { Logger } from '../../infra/logger';
import { authedDevice } from '../device/device-auth';

/**
 * One JSON log line per request (pino): method, matched route, status, duration, and the domain ids
 * the request concerns — rolloutId / deviceId / installationId from the path, the authenticated
 * device — so an operator can grep every line about one rollout, device or job.
 * Health checks and metric scrapes are logged at debug.
 */
export function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : undefined;
      const ids: Record<string, string> = {};
      const params = (req.params ?? {}) as Record<string, string | undefined>;
      if (params.id) {
        if (req.baseUrl.endsWith('/rollouts') || route?.includes('/rollouts/')) ids.rolloutId = params.id;
        else if (route?.includes('/devices/')) ids.deviceId = params.id;
        else if (route?.includes('/installations/')) ids.installationId = params.id;
      }
      const device = authedDevice(req);
      if (device) ids.deviceId = device.id;
      const body = req.body as { jobId?: unknown } | undefined;
      if (body && typeof body.jobId === 'string') ids.installationId = body.jobId;
      const line = {
        method: req.method,
        route: route ?? 'unmatched',
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        ...ids,
      };
      const quiet = req.path === '/health' || req.path === '/metrics';
      if (res.statusCode >= 500) log.error(line, 'request failed');
      else if (quiet) log.debug(line, 'request');
      else log.info(line, 'request');
    });
    next();
  };
}
