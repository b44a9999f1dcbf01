import pino from 'pino';

/** Structured JSON logs (LOG_LEVEL, default info). Child loggers carry rollout/device/job ids. */
export const logger = pino({
  level: process.env.LOG_LEVEL || 'info',
  base: { service: 'device-rollout' },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = pino.Logger;

export function logError(log: Logger) {
  return (msg: string, err?: unknown) => log.error({ err }, msg);
}
