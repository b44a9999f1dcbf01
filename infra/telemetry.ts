/**
 * The Temporal SDK runtime of a process: its logs go to pino (TEMPORAL_LOG_LEVEL, default WARN: the
 * bundler and worker state changes are not news), and its metrics are served for Prometheus on
 * WORKER_METRICS_ADDRESS (default 127.0.0.1:9464; `off` disables). Install before any connection.
 */
import { DefaultLogger, type LogLevel, Runtime } from '@temporalio/worker';
import { logger } from './logger';

export function installRuntime(env: NodeJS.ProcessEnv = process.env): { metricsAddress?: string } {
  const level = ((env.TEMPORAL_LOG_LEVEL || 'WARN').toUpperCase() as LogLevel) ?? 'WARN';
  const sdkLog = logger.child({ part: 'temporal-sdk' });
  const metricsAddress = env.WORKER_METRICS_ADDRESS === 'off' ? undefined : env.WORKER_METRICS_ADDRESS || '127.0.0.1:9464';
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      const meta = withDomainIds(entry.meta ?? {});
      if (entry.level === 'ERROR') sdkLog.error(meta, entry.message);
      else if (entry.level === 'WARN') sdkLog.warn(meta, entry.message);
      else if (entry.level === 'INFO') sdkLog.info(meta, entry.message);
      else sdkLog.debug(meta, entry.message);
    }),
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
  });
  return { metricsAddress };
}

/**
 * Workflow and activity log entries carry the workflow id; the ids operators search by are in it
 * (`install/<rolloutId>/<deviceId>`, `rollout/<rolloutId>`): put them on the line as fields.
 */
export function withDomainIds(meta: Record<string, unknown>): Record<string, unknown> {
  const workflowId = typeof meta.workflowId === 'string' ? meta.workflowId : undefined;
  if (!workflowId) return meta;
  const install = /^install\/([^/]+)\/([^/]+)$/.exec(workflowId);
  if (install) return { rolloutId: install[1], deviceId: install[2], ...meta };
  const rollout = /^rollout\/([^/]+)$/.exec(workflowId);
  if (rollout) return { rolloutId: rollout[1], ...meta };
  return meta;
}
