/**
 * The console's times (console/format.ts): a rollout's times in its own time zone and in the user's,
 * the per-hour buckets of its charts (DST days included), "today" in a zone, sizes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fmtBoth, fmtBytes, fmtTime, hourIn, todayIn, userTimeZone } from '../../console/format';

afterEach(() => {
  vi.useRealTimers();
});

describe('console times', () => {
  it('formats an instant in a zone, "—" for none', () => {
    expect(fmtTime('2026-03-29T00:30:00Z', 'Europe/Berlin')).toBe('2026-03-29, 01:30');
    expect(fmtTime('2026-03-29T01:30:00Z', 'Europe/Berlin')).toBe('2026-03-29, 03:30'); // after the spring-forward
    expect(fmtTime(null, 'UTC')).toBe('—');
    expect(fmtTime('not a time', 'UTC')).toBe('—');
  });

  it("shows the rollout's zone, and the user's when it differs (the date only when it is another day)", () => {
    const user = userTimeZone();
    const other = user === 'Asia/Tokyo' ? 'America/New_York' : 'Asia/Tokyo';
    expect(fmtBoth('2026-12-02T10:00:00Z', user)).toBe(`${fmtTime('2026-12-02T10:00:00Z', user)} ${user}`);
    const both = fmtBoth('2026-12-02T10:00:00Z', other);
    expect(both.startsWith(`${fmtTime('2026-12-02T10:00:00Z', other)} ${other} · `)).toBe(true);
    expect(both.endsWith(` your time (${user})`)).toBe(true);
    expect(fmtBoth(null, 'UTC')).toBe('—');
  });

  it('buckets per hour in the chart zone across a DST change', () => {
    // Europe/Berlin 2026-10-25: 02:00–03:00 happens twice
    expect(hourIn('2026-10-25T00:30:00Z', 'Europe/Berlin')).toBe('2026-10-25 02:00');
    expect(hourIn('2026-10-25T01:30:00Z', 'Europe/Berlin')).toBe('2026-10-25 02:00');
    expect(hourIn('2026-10-25T02:30:00Z', 'Europe/Berlin')).toBe('2026-10-25 03:00');
    expect(hourIn('2026-12-02T23:59:59Z', 'UTC')).toBe('2026-12-02 23:00');
  });

  it("today is the zone's calendar day", () => {
    vi.useFakeTimers({ now: new Date('2026-12-02T23:30:00Z') });
    expect(todayIn('UTC')).toBe('2026-12-02');
    expect(todayIn('Asia/Tokyo')).toBe('2026-12-03');
    expect(todayIn('America/Los_Angeles')).toBe('2026-12-02');
  });

  it('sizes', () => {
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(fmtBytes(null)).toBe('—');
  });
});
