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
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1_000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  for (const [size, unit] of units) if (ms >= size) return `${Math.round((ms / size) * 10) / 10}${unit}`;
  return `${ms}ms`;
}

/** What went wrong, for the log: an activity's own error message rather than "Activity task failed". */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
