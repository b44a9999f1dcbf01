/** Durations as people write them ("90s", "15m", "2h", "7d", "250ms") and as the logs show them. */

/** Milliseconds per unit. */
export const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

type DurationUnit = keyof typeof DURATION_UNITS;

/** A number and a unit, as the rollout request takes them ("90s", "1.5h"). */
export const DURATION_RE = /^\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)$/;

/** A duration of the rollout request: milliseconds as given, or a number with a unit ("1.5h"). */
export function parseDurationMs(v: number | string): number {
  if (typeof v === 'number') return v;
  const unit = DURATION_RE.test(v) ? /(?:ms|[smhd])$/.exec(v)?.[0] : undefined;
  if (!unit) throw new RangeError(`not a duration: ${v}`);
  return Math.round(Number.parseFloat(v) * DURATION_UNITS[unit as DurationUnit]);
}

/** "7d", "36h", "90m", "45s", "250ms" — for log messages. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [DURATION_UNITS.d, 'd'],
    [DURATION_UNITS.h, 'h'],
    [DURATION_UNITS.m, 'm'],
    [DURATION_UNITS.s, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  for (const [size, unit] of units) if (ms >= size) return `${Math.round((ms / size) * 10) / 10}${unit}`;
  return `${ms}ms`;
}
