/** The rollout workflow's activities and their options (S1–S9, P1, P3). */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';

/** Postgres bookkeeping: retried until it works (the database may be down for a while). */
export const db = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Mail: bounded retries; a mail that cannot be sent is logged and does not keep the rollout open. */
export const mail = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 12 },
});

/**
 * Slot planning: pure computation as a local activity, so the time-zone arithmetic is recorded in
 * history (a marker) and replay never depends on a worker's tz data.
 */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidScheduleError'] },
});
