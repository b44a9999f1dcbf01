import express from 'express';
import { auditAdminRequests, requireAdmin } from './admin/admin-auth';
import { adminKeyRoutes } from './admin/admin-keys';
import { devicesRoutes } from './admin/devices';
import { diagnosticsRoutes } from './admin/diagnostics';
import { installationRoutes } from './admin/installations';
import { meRoutes } from './admin/me';
import { messagesRoutes } from './admin/messages';
import { reportRoutes } from './admin/reports';
import { rolloutRoutes } from './admin/rollouts';
import { softwareRoutes } from './admin/software';
import { deliveryReportRoutes } from './callbacks/kannel-dlr';
import { consoleRoutes } from './console';
import type { ApiContext } from './context';
import { dmRoutes } from './device/dm';
import { downloadRoutes } from './device/downloads';
import { deviceEndpointRoutes } from './device/sync-and-reports';
import { healthRoutes } from './health';
import { accessLog } from './http/access-log';
import { errorHandler, notFoundHandler } from './http/errors';
import { jsonDepthLimit } from './http/json-depth';
import { createMetrics } from './http/metrics';
import { deviceRateLimit } from './http/rate-limit';
import { openApiRoutes } from './openapi';

export type { ApiContext } from './context';

/**
 * The HTTP API. Admin routes live under /api/v1 behind admin keys; device routes authenticate with
 * device tokens; ticket links (/d/:ticket) carry their own secret.
 */
export function createApp(ctx: ApiContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  const metrics = createMetrics(ctx.db);
  app.use(metrics.middleware);
  if (ctx.logger) app.use(accessLog(ctx.logger));
  app.use(['/api/v1/device', '/d'], deviceRateLimit(ctx.config.deviceRateLimit)); // 429 per device token / ticket / IP
  // admin requests are recorded once answered, also those the body parser refuses
  app.use('/api/v1', auditAdminRequests(ctx.db, ctx.config.adminApiKey, ctx.log));
  app.use(express.json({ limit: '1mb' }));
  app.use(jsonDepthLimit()); // 400 for bodies nested deeper than 64 levels (would overflow the stack later)
  app.use(metrics.router);

  app.use(healthRoutes(ctx));
  app.use(openApiRoutes()); // /openapi.json and /docs (public)
  app.use(deliveryReportRoutes(ctx));
  app.use('/api/v1/device', deviceEndpointRoutes(ctx));
  app.use('/d', downloadRoutes(ctx));
  app.use('/dm', dmRoutes(ctx)); // OMA DM sessions: SyncML credentials, not bearer tokens

  const admin = express.Router();
  admin.use(requireAdmin(ctx.db, ctx.config.adminApiKey));
  admin.use(diagnosticsRoutes(ctx));
  admin.use(messagesRoutes(ctx));
  admin.use(devicesRoutes(ctx));
  admin.use(softwareRoutes(ctx));
  admin.use(rolloutRoutes(ctx));
  admin.use(installationRoutes(ctx));
  admin.use(reportRoutes(ctx)); // rollout list, report, CSV, retry (issue 14)
  admin.use(adminKeyRoutes(ctx));
  admin.use(meRoutes(ctx)); // GET /me: the caller's key and role (the console shows what the role may do)
  app.use('/api/v1', admin);
  app.use(consoleRoutes()); // the admin console at / (console/, issue 16)

  app.use(notFoundHandler);
  app.use(errorHandler(ctx.log));
  return app;
}
