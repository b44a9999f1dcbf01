/** The wording of the installation log: delivery method names, durations, failures (R1–R6). */
import { ActivityFailure } from '@temporalio/workflow';
import type { DeliveryMethod } from '../../activities/install';

export const METHOD_NAMES: Record<DeliveryMethod, string> = {
  dm: 'OMA DM',
  sms: 'SMS push',
  wap: 'WAP push',
  mark: 'Mark for installation',
};

/** "7d", "36h", "90m", "45s", "250ms" — for log messages. */
export { formatDuration } from '../../domain/duration';

/** What went wrong, for the log: an activity's own error message rather than "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
