/**
 * `POST /rollouts/:id/retry` (issue 14, SPEC G3): a new rollout of the devices whose jobs ended in
 * `statuses`. `schedule`, `options`, `groups`, `safety` and `notify` are those of `POST /rollouts` and
 * are checked by its schema once the new rollout's request is made (errors name the same fields);
 * absent, the options and the notification addresses are the source rollout's; the schedule is the
 * source's quota, weekdays, window and time zone from today, the fields given replacing theirs.
 */
import { z } from 'zod';
import { ALL_STATUSES, type InstallStatus, STATUS } from './status';

export const DEFAULT_RETRY_STATUSES: readonly InstallStatus[] = [STATUS.installationFailed, STATUS.unknownStatus];

const NAMES = ALL_STATUSES.map((s) => JSON.stringify(s)).join(', ');

export const RetryRequestSchema = z.strictObject({
  statuses: z
    .array(z.enum(ALL_STATUSES as unknown as [InstallStatus, ...InstallStatus[]], { error: `must be a status: ${NAMES}` }), {
      error: `must be a list of statuses: ${NAMES}`,
    })
    .min(1, 'give at least one status')
    .optional(),
  schedule: z.unknown().optional(),
  options: z.unknown().optional(),
  groups: z.unknown().optional(),
  safety: z.unknown().optional(),
  notify: z.unknown().optional(),
});

export type RetryRequest = z.output<typeof RetryRequestSchema>;
