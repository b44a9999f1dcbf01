import express from 'express';
import { requireAdmin } from './auth';
import type { ApiContext } from './context';
import { errorHandler, notFoundHandler } from './errors';
import { createMetrics } from './metrics';
import { deliveryReportRoutes } from './routes/delivery-reports';
import { diagnosticsRoutes } from './routes/diagnostics';
import { healthRoutes } from './routes/health';

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
  app.use(express.json({ limit: '1mb' }));
  app.use(metrics.router);

  app.use(healthRoutes(ctx));
  app.use(deliveryReportRoutes(ctx));

  const admin = express.Router();
  admin.use(requireAdmin(ctx.db, ctx.config.adminApiKey));
  admin.use(diagnosticsRoutes(ctx));
  app.use('/api/v1', admin);

  app.use(notFoundHandler);
  app.use(errorHandler(ctx.log));
  return app;
}
