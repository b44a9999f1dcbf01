import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  calendarDay,
  InvalidScheduleError,
  localTimeToInstant,
  nextStart,
  normalizeSchedule,
  planSlots,
  previewPlan,
  type Schedule,
  scheduleDefaults,
  validateSchedule,
  WEEKDAYS,
  type Weekday,
  weekdayOfDate,
} from '../../domain/schedule';

const MON_FRI: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const ALL_DAYS: Weekday[] = [...WEEKDAYS];

/** 2025-06-02 is a Monday. */
const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

function sched(over: Partial<Schedule> = {}): Schedule {
  return {
    perDay: 10,
    startDate: '2025-06-02',
    weekdays: MON_FRI,
    window: { start: '09:00', end: '17:00' },
    timeZone: 'UTC',
    ...over,
  };
}

/** The i-th element, which the test expects to exist. */
function nth<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i} (length ${xs.length})`);
  return x;
}

/** HH:MM of UTC instants (UTC schedules). */
const hhmm = (ms: number) => iso(ms).slice(11, 16);

function countByDate(slots: { date: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of slots) out[s.date] = (out[s.date] ?? 0) + 1;
  return out;
}

describe('defaults', () => {
  it('scheduleDefaults: 100/day, given today, Mon–Fri, 09:00–17:00, UTC', () => {
    expect(scheduleDefaults('2025-06-02')).toEqual({
      perDay: 100,
      startDate: '2025-06-02',
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    });
    expect(validateSchedule(scheduleDefaults('2025-06-02'))).toEqual([]);
  });

  it('normalizeSchedule: startDate defaults to today in the schedule time zone', () => {
    const now = t('2025-06-01T23:30:00Z'); // already June 2 in Berlin
    expect(normalizeSchedule({}, now).startDate).toBe('2025-06-01');
    expect(normalizeSchedule({ timeZone: 'Europe/Berlin' }, now).startDate).toBe('2025-06-02');
    expect(normalizeSchedule({ timeZone: 'America/New_York' }, now).startDate).toBe('2025-06-01');
    expect(normalizeSchedule(undefined, now)).toEqual(scheduleDefaults('2025-06-01'));
  });

  it('normalizeSchedule keeps given fields and fills a partial window', () => {
    const s = normalizeSchedule({ perDay: 'unlimited', weekdays: ['sat'], window: { end: '12:00' } }, t('2025-06-02T00:00:00Z'));
    expect(s).toEqual({
      perDay: 'unlimited',
      startDate: '2025-06-02',
      weekdays: ['sat'],
      window: { start: '09:00', end: '12:00' },
      timeZone: 'UTC',
    });
  });

  it('normalizeSchedule with an invalid time zone does not throw; validation names timeZone', () => {
    const s = normalizeSchedule({ timeZone: 'Mars/Olympus_Mons' }, t('2025-06-02T12:00:00Z'));
    expect(s.startDate).toBe('2025-06-02');
    expect(validateSchedule(s).map((e) => e.field)).toEqual(['timeZone']);
  });
});

describe('validateSchedule', () => {
  const fields = (s: unknown) => validateSchedule(s).map((e) => e.field);

  it('accepts the bounds 1, 10000 and unlimited, and window end 24:00', () => {
    expect(validateSchedule(sched({ perDay: 1 }))).toEqual([]);
    expect(validateSchedule(sched({ perDay: 10000 }))).toEqual([]);
    expect(validateSchedule(sched({ perDay: 'unlimited' }))).toEqual([]);
    expect(validateSchedule(sched({ window: { start: '00:00', end: '24:00' } }))).toEqual([]);
    expect(validateSchedule(sched({ weekdays: ['sun', 'sat'] }))).toEqual([]);
    expect(validateSchedule(sched({ timeZone: 'Australia/Lord_Howe' }))).toEqual([]);
  });

  it.each([0, 10001, -5, 1.5, Number.NaN, '100', 'Unlimited', null, undefined])(
    'perDay %s is refused, naming perDay',
    (perDay) => {
      const errors = validateSchedule({ ...sched(), perDay });
      expect(errors).toHaveLength(1);
      expect(errors[0]?.field).toBe('perDay');
      expect(errors[0]?.message).toMatch(/perDay must be a whole number from 1 to 10000, or 'unlimited'/);
    },
  );

  it.each(['2025-02-29', '2024-02-30', '2025-13-01', '2025-00-10', '2025-04-31', '25-06-02', '2025-6-2', '', 20250602])(
    'startDate %s is refused, naming startDate',
    (startDate) => {
      const errors = validateSchedule({ ...sched(), startDate });
      expect(errors.map((e) => e.field)).toEqual(['startDate']);
      expect(errors[0]?.message).toMatch(/startDate must be a real calendar date/);
    },
  );

  it('accepts a leap day', () => {
    expect(validateSchedule(sched({ startDate: '2024-02-29' }))).toEqual([]);
  });

  it('weekdays: empty, unknown, duplicate, not a list', () => {
    expect(validateSchedule(sched({ weekdays: [] }))).toEqual([
      {
        field: 'weekdays',
        message: 'weekdays must select at least one day of the week',
      },
    ]);
    const unknown = validateSchedule({
      ...sched(),
      weekdays: ['mon', 'monday'],
    });
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.field).toBe('weekdays');
    expect(unknown[0]?.message).toContain('"monday"');
    const dup = validateSchedule(sched({ weekdays: ['mon', 'tue', 'mon'] }));
    expect(dup).toHaveLength(1);
    expect(dup[0]?.field).toBe('weekdays');
    expect(dup[0]?.message).toMatch(/duplicate day\(s\) "mon"/);
    expect(fields({ ...sched(), weekdays: 'mon' })).toEqual(['weekdays']);
  });

  it.each([
    [{ start: '9:00', end: '17:00' }, ['window.start']],
    [{ start: '24:00', end: '24:00' }, ['window.start']],
    [{ start: '09:60', end: '17:00' }, ['window.start']],
    [{ start: '09:00', end: '24:01' }, ['window.end']],
    [{ start: '09:00', end: '25:00' }, ['window.end']],
    [{ start: '09:00', end: '5pm' }, ['window.end']],
    [{ start: 'x', end: 'y' }, ['window.start', 'window.end']],
  ])('window %j is refused, naming %j', (window, expected) => {
    expect(fields({ ...sched(), window })).toEqual(expected);
  });

  it('window end before start (overnight window) is refused with a clear message', () => {
    const errors = validateSchedule(sched({ window: { start: '22:00', end: '06:00' } }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.field).toBe('window.end');
    expect(errors[0]?.message).toMatch(/before window\.start/);
    expect(errors[0]?.message).toMatch(/overnight windows are not supported/);
  });

  it('an empty window (end equal to start) is refused', () => {
    const errors = validateSchedule(sched({ window: { start: '10:00', end: '10:00' } }));
    expect(errors.map((e) => e.field)).toEqual(['window.end']);
    expect(errors[0]?.message).toMatch(/must be after window\.start/);
  });

  it('window missing entirely', () => {
    expect(fields({ ...sched(), window: undefined })).toEqual(['window']);
  });

  it.each(['Mars/Olympus_Mons', '', 'Europe/Berlin ', '+01:00', 'GMT+99', 42, undefined])(
    'invalid time zone %j names timeZone',
    (timeZone) => {
      const errors = validateSchedule({ ...sched(), timeZone });
      expect(errors.map((e) => e.field)).toEqual(['timeZone']);
      expect(errors[0]?.message).toMatch(/valid IANA time zone/);
    },
  );

  it('reports every bad field at once; a non-object is refused', () => {
    expect(
      fields({
        perDay: 0,
        startDate: 'today',
        weekdays: [],
        window: { start: '18:00', end: '08:00' },
        timeZone: 'Nowhere',
      }),
    ).toEqual(['perDay', 'startDate', 'weekdays', 'window.end', 'timeZone']);
    expect(fields(null)).toEqual(['schedule']);
    expect(fields('x')).toEqual(['schedule']);
  });
});

describe('calendarDay and local time conversion', () => {
  it('calendarDay depends on the zone', () => {
    const at = t('2025-06-01T22:30:00Z');
    expect(calendarDay(at, 'UTC')).toBe('2025-06-01');
    expect(calendarDay(at, 'Europe/Berlin')).toBe('2025-06-02');
    expect(calendarDay(at, 'America/New_York')).toBe('2025-06-01');
    expect(calendarDay(t('2025-06-02T03:59:59.999Z'), 'America/New_York')).toBe('2025-06-01');
    expect(calendarDay(t('2025-06-02T04:00:00Z'), 'America/New_York')).toBe('2025-06-02');
  });

  it('calendarDay with an invalid zone throws', () => {
    expect(() => calendarDay(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('weekdayOfDate', () => {
    expect(weekdayOfDate('2025-06-02')).toBe('mon');
    expect(weekdayOfDate('2025-06-08')).toBe('sun');
    expect(weekdayOfDate('1970-01-01')).toBe('thu');
    expect(weekdayOfDate('1969-12-29')).toBe('mon');
  });

  it('Europe/Berlin spring forward: 02:30 does not exist → first instant after the gap (03:00 CEST)', () => {
    expect(iso(localTimeToInstant('2025-03-30', '02:30', 'Europe/Berlin'))).toBe('2025-03-30T01:00:00.000Z');
    expect(iso(localTimeToInstant('2025-03-30', '02:00', 'Europe/Berlin'))).toBe('2025-03-30T01:00:00.000Z');
    expect(iso(localTimeToInstant('2025-03-30', '01:59', 'Europe/Berlin'))).toBe('2025-03-30T00:59:00.000Z');
    expect(iso(localTimeToInstant('2025-03-30', '03:00', 'Europe/Berlin'))).toBe('2025-03-30T01:00:00.000Z');
  });

  it('Europe/Berlin fall back: 02:30 occurs twice → first occurrence (CEST)', () => {
    expect(iso(localTimeToInstant('2025-10-26', '02:30', 'Europe/Berlin'))).toBe('2025-10-26T00:30:00.000Z');
    expect(iso(localTimeToInstant('2025-10-26', '03:00', 'Europe/Berlin'))).toBe('2025-10-26T02:00:00.000Z');
  });

  it('America/New_York gap and repeat', () => {
    expect(iso(localTimeToInstant('2025-03-09', '02:30', 'America/New_York'))).toBe('2025-03-09T07:00:00.000Z');
    expect(iso(localTimeToInstant('2025-11-02', '01:30', 'America/New_York'))).toBe('2025-11-02T05:30:00.000Z');
  });

  it('half-hour DST (Australia/Lord_Howe) and a skipped day (Pacific/Apia 2011-12-30)', () => {
    expect(iso(localTimeToInstant('2025-10-05', '02:15', 'Australia/Lord_Howe'))).toBe('2025-10-04T15:30:00.000Z');
    expect(iso(localTimeToInstant('2025-04-06', '01:45', 'Australia/Lord_Howe'))).toBe('2025-04-05T14:45:00.000Z');
    // Samoa skipped 30 December 2011 entirely: every time that day maps to 31 Dec 00:00 (+14).
    expect(iso(localTimeToInstant('2011-12-30', '10:00', 'Pacific/Apia'))).toBe('2011-12-30T10:00:00.000Z');
    expect(iso(localTimeToInstant('2011-12-29', '24:00', 'Pacific/Apia'))).toBe('2011-12-30T10:00:00.000Z');
  });
});

describe('planSlots', () => {
  it('seed example: 10/day, 30 devices, 09:00–17:00 → 10 on each of the next three selected days, every 48 min, last 16:12', () => {
    const slots = planSlots(sched(), {
      now: t('2025-06-02T08:00:00Z'),
      count: 30,
    });
    expect(slots).toHaveLength(30);
    expect(countByDate(slots)).toEqual({
      '2025-06-02': 10,
      '2025-06-03': 10,
      '2025-06-04': 10,
    });
    const day1 = slots.slice(0, 10).map((s) => hhmm(s.at));
    expect(day1).toEqual(['09:00', '09:48', '10:36', '11:24', '12:12', '13:00', '13:48', '14:36', '15:24', '16:12']);
    for (let d = 0; d < 3; d++) {
      const day = slots.slice(d * 10, d * 10 + 10);
      expect(day.map((s) => hhmm(s.at))).toEqual(day1);
      for (let i = 1; i < 10; i++) expect(nth(day, i).at - nth(day, i - 1).at).toBe(48 * 60_000);
    }
    expect(iso(nth(slots, 29).at)).toBe('2025-06-04T16:12:00.000Z');
  });

  it('weekends are skipped', () => {
    // Thursday start: Thu, Fri, then Monday
    const slots = planSlots(sched({ startDate: '2025-06-05' }), {
      now: t('2025-06-02T08:00:00Z'),
      count: 30,
    });
    expect(countByDate(slots)).toEqual({
      '2025-06-05': 10,
      '2025-06-06': 10,
      '2025-06-09': 10,
    });
  });

  it('start date on a non-selected day begins on the next selected day', () => {
    const slots = planSlots(sched({ startDate: '2025-06-07' /* Saturday */ }), {
      now: t('2025-06-02T08:00:00Z'),
      count: 1,
    });
    expect(slots).toEqual([{ at: t('2025-06-09T09:00:00Z'), date: '2025-06-09' }]);
    const tueThu = planSlots(sched({ startDate: '2025-06-02', weekdays: ['thu', 'tue'] }), {
      now: t('2025-06-02T08:00:00Z'),
      count: 25,
    });
    expect(countByDate(tueThu)).toEqual({
      '2025-06-03': 10,
      '2025-06-05': 10,
      '2025-06-10': 5,
    });
  });

  it("start date in the past means today: the day's quota spread from now over the rest of the window", () => {
    const slots = planSlots(sched({ startDate: '2024-01-01' }), {
      now: t('2025-06-04T10:00:00Z'),
      count: 12,
    });
    expect(slots[0]).toEqual({ at: t('2025-06-04T10:00:00Z'), date: '2025-06-04' });
    expect(countByDate(slots)).toEqual({ '2025-06-04': 10, '2025-06-05': 2 });
    // 10 over 10:00–17:00: every 42 minutes; the last, partial day: 2 over the whole window
    expect(hhmm(nth(slots, 9).at)).toBe('16:18');
    expect(slots.slice(10).map((x) => hhmm(x.at))).toEqual(['09:00', '13:00']);
  });

  it('start date in the future: nothing before it', () => {
    const slots = planSlots(sched({ startDate: '2025-07-01' }), {
      now: t('2025-06-02T10:00:00Z'),
      count: 1,
    });
    expect(slots).toEqual([{ at: t('2025-07-01T09:00:00Z'), date: '2025-07-01' }]);
  });

  it('quota larger than the fleet: all devices on the first day, spread over the whole window (480 min ÷ 30)', () => {
    const slots = planSlots(sched({ perDay: 100 }), {
      now: t('2025-06-02T08:00:00Z'),
      count: 30,
    });
    expect(countByDate(slots)).toEqual({ '2025-06-02': 30 });
    for (let i = 1; i < 30; i++) expect(nth(slots, i).at - nth(slots, i - 1).at).toBe(16 * 60_000);
    expect(iso(nth(slots, 29).at)).toBe('2025-06-02T16:44:00.000Z');
    // the rule before S5 changed (rollouts started before it): spaced by the quota, 09:00–11:19
    const old = planSlots(sched({ perDay: 100 }), { now: t('2025-06-02T08:00:00Z'), count: 30, spacing: 'quota' });
    expect(nth(old, 1).at - nth(old, 0).at).toBe(4.8 * 60_000);
    expect(iso(nth(old, 29).at)).toBe('2025-06-02T11:19:12.000Z');
  });

  it('the last, partial day spreads its devices over the whole window', () => {
    // 10/day, 25 devices: 10, 10, then 5 over 09:00–17:00 (every 96 minutes)
    const slots = planSlots(sched(), { now: t('2025-06-02T08:00:00Z'), count: 25 });
    expect(countByDate(slots)).toEqual({ '2025-06-02': 10, '2025-06-03': 10, '2025-06-04': 5 });
    expect(slots.slice(20).map((x) => hhmm(x.at))).toEqual(['09:00', '10:36', '12:12', '13:48', '15:24']);
    expect(previewPlan(sched(), 25, t('2025-06-02T08:00:00Z')).slots).toEqual(slots);
  });

  it('planned page by page: n counts the devices left in the rollout, not the page', () => {
    const whole = planSlots(sched(), { now: t('2025-06-02T08:00:00Z'), count: 25 });
    const firstPage = planSlots(sched(), { now: t('2025-06-02T08:00:00Z'), count: 4, devicesLeft: 25 });
    expect(firstPage).toEqual(whole.slice(0, 4));
    // the next page continues the day after its last start, keeping the day's spacing
    const last = nth(firstPage, 3).at;
    const nextPage = planSlots(sched(), {
      now: last + 1,
      count: 21,
      devicesLeft: 21,
      startedOnDay: 4,
      lastStartAt: last,
    });
    expect(nextPage).toEqual(whole.slice(4));
    expect(() => planSlots(sched(), { now: t('2025-06-02T08:00:00Z'), count: 4, devicesLeft: 3 })).toThrow(RangeError);
  });

  it("joined inside the window (started or resumed at 13:00): the day's quota spreads over the rest of the window, the first at once", () => {
    const atSlot = planSlots(sched(), {
      now: t('2025-06-02T13:00:00Z'),
      count: 100,
    });
    expect(atSlot.filter((s) => s.date === '2025-06-02').map((s) => hhmm(s.at))).toEqual([
      '13:00',
      '13:24',
      '13:48',
      '14:12',
      '14:36',
      '15:00',
      '15:24',
      '15:48',
      '16:12',
      '16:36',
    ]);
    const between = planSlots(sched(), {
      now: t('2025-06-02T13:00:00.001Z'),
      count: 1,
    });
    expect(nth(between, 0).at).toBe(t('2025-06-02T13:00:00.001Z'));
  });

  it('now after the window: next selected day (Friday evening → Monday)', () => {
    const slots = planSlots(sched(), {
      now: t('2025-06-06T17:00:00Z'),
      count: 3,
      devicesLeft: 30,
    });
    expect(slots.map((s) => iso(s.at))).toEqual([
      '2025-06-09T09:00:00.000Z',
      '2025-06-09T09:48:00.000Z',
      '2025-06-09T10:36:00.000Z',
    ]);
  });

  it('non-integer spacing is floored to whole milliseconds', () => {
    const slots = planSlots(sched({ perDay: 7 }), {
      now: t('2025-06-02T00:00:00Z'),
      count: 7,
    });
    const len = 8 * 3_600_000;
    slots.forEach((s, i) => {
      expect(s.at).toBe(t('2025-06-02T09:00:00Z') + Math.floor((i * len) / 7));
      expect(Number.isInteger(s.at)).toBe(true);
    });
    expect(iso(nth(slots, 1).at)).toBe('2025-06-02T10:08:34.285Z');
  });

  it('window until 24:00 in a non-UTC zone', () => {
    const s = sched({
      perDay: 4,
      window: { start: '20:00', end: '24:00' },
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, { now: t('2025-06-02T00:00:00Z'), count: 5 });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-06-02T18:00:00.000Z',
      '2025-06-02T19:00:00.000Z',
      '2025-06-02T20:00:00.000Z',
      '2025-06-02T21:00:00.000Z',
      '2025-06-03T18:00:00.000Z',
    ]);
    expect(slots.map((x) => x.date)).toEqual(['2025-06-02', '2025-06-02', '2025-06-02', '2025-06-02', '2025-06-03']);
  });

  it('"today" is the calendar day in the schedule zone, not UTC', () => {
    // 2025-06-02T23:30Z is already Tuesday 01:30 in Berlin: Monday's window is not "today".
    const s = sched({ timeZone: 'Europe/Berlin', startDate: '2025-06-01' });
    const slots = planSlots(s, {
      now: t('2025-06-02T23:30:00Z'),
      count: 1,
      startedOnDay: 3,
    });
    expect(slots[0]?.date).toBe('2025-06-03');
    expect(iso(nth(slots, 0).at)).toBe('2025-06-03T07:00:00.000Z'); // 09:00 CEST
  });

  it('count 0 → no slots; nextStart gives the next due start', () => {
    expect(planSlots(sched(), { now: t('2025-06-02T08:00:00Z'), count: 0 })).toEqual([]);
    expect(nextStart(sched(), t('2025-06-02T09:01:00Z'))).toEqual({
      at: t('2025-06-02T09:01:00Z'),
      date: '2025-06-02',
    });
    expect(nextStart(sched(), t('2025-06-02T09:01:00Z'), 10)).toEqual({
      at: t('2025-06-03T09:00:00Z'),
      date: '2025-06-03',
    });
  });

  it('invalid schedule or options throw', () => {
    const now = t('2025-06-02T08:00:00Z');
    expect(() => planSlots(sched({ timeZone: 'Mars/Olympus_Mons' }), { now, count: 1 })).toThrow(InvalidScheduleError);
    try {
      planSlots(sched({ window: { start: '22:00', end: '06:00' } }), {
        now,
        count: 1,
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidScheduleError);
      expect((e as InvalidScheduleError).errors.map((x) => x.field)).toEqual(['window.end']);
      expect((e as Error).message).toMatch(/overnight windows are not supported/);
    }
    expect(() => planSlots(sched(), { now, count: -1 })).toThrow(RangeError);
    expect(() => planSlots(sched(), { now, count: 1.5 })).toThrow(RangeError);
    expect(() => planSlots(sched(), { now: Number.NaN, count: 1 })).toThrow(RangeError);
    expect(() => planSlots(sched(), { now, count: 1, startedOnDay: -1 })).toThrow(RangeError);
  });
});

describe('quota per calendar day (S7)', () => {
  it('startedOnDay reduces what is left today', () => {
    const slots = planSlots(sched(), {
      now: t('2025-06-02T09:00:00Z'),
      count: 20,
      startedOnDay: 4,
    });
    expect(countByDate(slots)).toEqual({
      '2025-06-02': 6,
      '2025-06-03': 10,
      '2025-06-04': 4,
    });
    expect(hhmm(nth(slots, 0).at)).toBe('09:00'); // earliest remaining slots are taken
  });

  it('startedOnDay at or above the quota: nothing more today', () => {
    for (const started of [10, 15]) {
      const slots = planSlots(sched(), {
        now: t('2025-06-02T09:30:00Z'),
        count: 3,
        startedOnDay: started,
      });
      expect(slots[0]?.date).toBe('2025-06-03');
    }
  });

  it('pause/resume mid-day never exceeds the quota for that day', () => {
    const s = sched();
    const before = planSlots(s, { now: t('2025-06-02T08:00:00Z'), count: 30 });
    const started = before.filter((x) => x.at < t('2025-06-02T11:30:00Z')); // 4 started, then paused
    expect(started).toHaveLength(4);
    // Resumed at 14:00: only slots at/after 14:00 remain, and at most 10 − 4 of them.
    const after = planSlots(s, {
      now: t('2025-06-02T14:00:00Z'),
      count: 26,
      startedOnDay: 4,
    });
    const today = after.filter((x) => x.date === '2025-06-02');
    expect(today.map((x) => hhmm(x.at))).toEqual(['14:00', '14:30', '15:00', '15:30', '16:00', '16:30']);
    expect(started.length + today.length).toBeLessThanOrEqual(10);
  });

  it('quota lowered mid-day (10 → 4 after 3 starts): 1 more today, at the new spacing', () => {
    const slots = planSlots(sched({ perDay: 4 }), {
      now: t('2025-06-02T12:00:00Z'),
      count: 6,
      startedOnDay: 3,
    });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-06-02T12:00:00.000Z',
      '2025-06-03T09:00:00.000Z',
      '2025-06-03T11:00:00.000Z',
      '2025-06-03T13:00:00.000Z',
      '2025-06-03T15:00:00.000Z',
      '2025-06-04T09:00:00.000Z',
    ]);
  });

  it('quota lowered below what already started: nothing more today', () => {
    const slots = planSlots(sched({ perDay: 2 }), {
      now: t('2025-06-02T12:00:00Z'),
      count: 1,
      startedOnDay: 7,
    });
    expect(slots[0]?.date).toBe('2025-06-03');
  });

  it('quota raised mid-day (10 → 20 after 7 starts): startedOnDay + new starts ≤ 20', () => {
    const slots = planSlots(sched({ perDay: 20 }), {
      now: t('2025-06-02T12:00:00Z'),
      count: 40,
      startedOnDay: 7,
    });
    const today = slots.filter((x) => x.date === '2025-06-02');
    expect(today).toHaveLength(13); // 20 − 7, spread over 12:00–17:00
    expect(hhmm(nth(today, 0).at)).toBe('12:00');
    expect(nth(today, 12).at).toBe(t('2025-06-02T12:00:00Z') + Math.floor((12 * 5 * 3_600_000) / 13));
    expect(7 + today.length).toBeLessThanOrEqual(20);
    const raisedEarly = planSlots(sched({ perDay: 20 }), {
      now: t('2025-06-02T09:30:00Z'),
      count: 40,
      startedOnDay: 7,
    });
    expect(raisedEarly.filter((x) => x.date === '2025-06-02')).toHaveLength(13); // capped by 20 − 7
  });
});

describe('unlimited (S6)', () => {
  const u = (over: Partial<Schedule> = {}) => sched({ perDay: 'unlimited', ...over });

  it('before the window on a selected day: everyone at the window start', () => {
    const slots = planSlots(u(), {
      now: t('2025-06-02T08:00:00Z'),
      count: 500,
    });
    expect(slots).toHaveLength(500);
    expect(new Set(slots.map((s) => s.at))).toEqual(new Set([t('2025-06-02T09:00:00Z')]));
    expect(slots.every((s) => s.date === '2025-06-02')).toBe(true);
  });

  it('inside the window of a selected day: everyone now', () => {
    const now = t('2025-06-02T10:17:23.456Z');
    const slots = planSlots(u(), { now, count: 3 });
    expect(slots).toEqual([
      { at: now, date: '2025-06-02' },
      { at: now, date: '2025-06-02' },
      { at: now, date: '2025-06-02' },
    ]);
  });

  it('after the window: next selected day window start', () => {
    expect(planSlots(u(), { now: t('2025-06-02T17:00:00Z'), count: 1 })).toEqual([
      { at: t('2025-06-03T09:00:00Z'), date: '2025-06-03' },
    ]);
  });

  it('inside the window hours but on a non-selected day (Saturday): Monday window start', () => {
    expect(planSlots(u(), { now: t('2025-06-07T10:00:00Z'), count: 1 })).toEqual([
      { at: t('2025-06-09T09:00:00Z'), date: '2025-06-09' },
    ]);
  });

  it('start date in the future: that day (or the next selected one) at window start', () => {
    expect(
      planSlots(u({ startDate: '2025-06-14' }), {
        now: t('2025-06-02T10:00:00Z'),
        count: 1,
      }),
    ).toEqual([{ at: t('2025-06-16T09:00:00Z'), date: '2025-06-16' }]);
  });

  it('previewPlan for unlimited: one day with every device', () => {
    expect(previewPlan(u({ timeZone: 'America/New_York' }), 1234, t('2025-06-02T08:00:00Z')).days).toEqual([
      { date: '2025-06-02', count: 1234 },
    ]);
  });
});

describe('DST (S8)', () => {
  const local = (ms: number, tz: string) =>
    new Intl.DateTimeFormat('en-GB', {
      timeZone: tz,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(ms);

  it('Europe/Berlin spring forward: window 01:00–05:00 has 3 real hours; no start in the skipped hour', () => {
    const s = sched({
      perDay: 6,
      startDate: '2025-03-30',
      weekdays: ALL_DAYS,
      window: { start: '01:00', end: '05:00' },
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, { now: t('2025-03-29T12:00:00Z'), count: 6 });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-03-30T00:00:00.000Z',
      '2025-03-30T00:30:00.000Z',
      '2025-03-30T01:00:00.000Z',
      '2025-03-30T01:30:00.000Z',
      '2025-03-30T02:00:00.000Z',
      '2025-03-30T02:30:00.000Z',
    ]);
    expect(slots.map((x) => local(x.at, 'Europe/Berlin'))).toEqual(['01:00', '01:30', '03:00', '03:30', '04:00', '04:30']);
    expect(slots.every((x) => x.date === '2025-03-30')).toBe(true);
  });

  it('Europe/Berlin fall back: window 01:00–05:00 has 5 real hours; repeated hour is used once per real instant', () => {
    const s = sched({
      perDay: 5,
      startDate: '2025-10-26',
      weekdays: ALL_DAYS,
      window: { start: '01:00', end: '05:00' },
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, { now: t('2025-10-25T12:00:00Z'), count: 5 });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-10-25T23:00:00.000Z', // 01:00 CEST
      '2025-10-26T00:00:00.000Z', // 02:00 CEST
      '2025-10-26T01:00:00.000Z', // 02:00 CET (second 02:00)
      '2025-10-26T02:00:00.000Z', // 03:00 CET
      '2025-10-26T03:00:00.000Z', // 04:00 CET
    ]);
    expect(slots.every((x) => x.date === '2025-10-26')).toBe(true);
    expect(slots.every((x) => calendarDay(x.at, 'Europe/Berlin') === '2025-10-26')).toBe(true);
  });

  it('Europe/Berlin: window starting inside the gap starts at 03:00 CEST; starting in the repeated hour uses its first occurrence', () => {
    const spring = sched({
      perDay: 2,
      startDate: '2025-03-30',
      weekdays: ALL_DAYS,
      window: { start: '02:30', end: '04:00' },
      timeZone: 'Europe/Berlin',
    });
    expect(planSlots(spring, { now: t('2025-03-29T12:00:00Z'), count: 2 }).map((x) => iso(x.at))).toEqual([
      '2025-03-30T01:00:00.000Z', // 03:00 CEST
      '2025-03-30T01:30:00.000Z', // 03:30 CEST: real window is one hour
    ]);
    const fall = sched({
      perDay: 5,
      startDate: '2025-10-26',
      weekdays: ALL_DAYS,
      window: { start: '02:30', end: '04:00' },
      timeZone: 'Europe/Berlin',
    });
    const f = planSlots(fall, { now: t('2025-10-25T12:00:00Z'), count: 5 });
    expect(iso(nth(f, 0).at)).toBe('2025-10-26T00:30:00.000Z'); // first 02:30 (CEST)
    expect(nth(f, 1).at - nth(f, 0).at).toBe(30 * 60_000); // 2.5 real hours / 5
  });

  it('a window entirely inside the skipped hour has no real time: that day gets no starts', () => {
    const s = sched({
      perDay: 3,
      startDate: '2025-03-30',
      weekdays: ALL_DAYS,
      window: { start: '02:00', end: '03:00' },
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, { now: t('2025-03-29T12:00:00Z'), count: 3 });
    expect(countByDate(slots)).toEqual({ '2025-03-31': 3 });
    expect(iso(nth(slots, 0).at)).toBe('2025-03-31T00:00:00.000Z'); // 02:00 CEST
  });

  it('America/New_York spring forward: 00:00–04:00 has 3 real hours, none in 02:xx', () => {
    const s = sched({
      perDay: 3,
      startDate: '2025-03-09',
      weekdays: ALL_DAYS,
      window: { start: '00:00', end: '04:00' },
      timeZone: 'America/New_York',
    });
    const slots = planSlots(s, { now: t('2025-03-08T12:00:00Z'), count: 3 });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-03-09T05:00:00.000Z',
      '2025-03-09T06:00:00.000Z',
      '2025-03-09T07:00:00.000Z',
    ]);
    expect(slots.map((x) => local(x.at, 'America/New_York'))).toEqual(['00:00', '01:00', '03:00']);
  });

  it('America/New_York fall back: 00:00–04:00 has 5 real hours, 01:xx used twice', () => {
    const s = sched({
      perDay: 5,
      startDate: '2025-11-02',
      weekdays: ALL_DAYS,
      window: { start: '00:00', end: '04:00' },
      timeZone: 'America/New_York',
    });
    const slots = planSlots(s, { now: t('2025-11-01T12:00:00Z'), count: 5 });
    expect(slots.map((x) => iso(x.at))).toEqual([
      '2025-11-02T04:00:00.000Z',
      '2025-11-02T05:00:00.000Z',
      '2025-11-02T06:00:00.000Z',
      '2025-11-02T07:00:00.000Z',
      '2025-11-02T08:00:00.000Z',
    ]);
    expect(slots.map((x) => local(x.at, 'America/New_York'))).toEqual(['00:00', '01:00', '01:00', '02:00', '03:00']);
  });

  it('America/New_York: window starting at the repeated 01:30 uses the first (EDT) occurrence', () => {
    const s = sched({
      perDay: 1,
      startDate: '2025-11-02',
      weekdays: ALL_DAYS,
      window: { start: '01:30', end: '03:00' },
      timeZone: 'America/New_York',
    });
    expect(planSlots(s, { now: t('2025-11-01T12:00:00Z'), count: 1 })[0]).toEqual({
      at: t('2025-11-02T05:30:00Z'),
      date: '2025-11-02',
    });
  });

  it('a business-hours window keeps its wall-clock times across the change', () => {
    const s = sched({
      perDay: 2,
      startDate: '2025-03-27',
      weekdays: ALL_DAYS,
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, { now: t('2025-03-27T00:00:00Z'), count: 10 });
    expect(slots.map((x) => local(x.at, 'Europe/Berlin'))).toEqual(Array.from({ length: 5 }, () => ['09:00', '13:00']).flat());
    expect(slots.map((x) => x.date)).toEqual(
      ['27', '27', '28', '28', '29', '29', '30', '30', '31', '31'].map((d) => `2025-03-${d}`),
    );
    expect(iso(nth(slots, 5).at)).toBe('2025-03-29T12:00:00.000Z'); // CET
    expect(iso(nth(slots, 6).at)).toBe('2025-03-30T07:00:00.000Z'); // CEST
  });

  it('now inside a DST day window respects the quota for that calendar day', () => {
    const s = sched({
      perDay: 6,
      startDate: '2025-03-30',
      weekdays: ALL_DAYS,
      window: { start: '01:00', end: '05:00' },
      timeZone: 'Europe/Berlin',
    });
    const slots = planSlots(s, {
      now: t('2025-03-30T01:10:00Z') /* 03:10 CEST */,
      count: 10,
      startedOnDay: 2,
    });
    // 6 − 2 = 4 left, over the rest of the real window (03:10–05:00 CEST, 110 minutes)
    expect(slots.filter((x) => x.date === '2025-03-30').map((x) => iso(x.at))).toEqual([
      '2025-03-30T01:10:00.000Z',
      '2025-03-30T01:37:30.000Z',
      '2025-03-30T02:05:00.000Z',
      '2025-03-30T02:32:30.000Z',
    ]);
  });
});

describe('previewPlan (S9)', () => {
  it('seed example: a slot per device and the count per day', () => {
    const p = previewPlan(sched(), 30, t('2025-06-02T08:00:00Z'));
    expect(p.slots).toHaveLength(30);
    expect(p.days).toEqual([
      { date: '2025-06-02', count: 10 },
      { date: '2025-06-03', count: 10 },
      { date: '2025-06-04', count: 10 },
    ]);
  });

  it('no devices: empty plan', () => {
    expect(previewPlan(sched(), 0, t('2025-06-02T08:00:00Z'))).toEqual({
      slots: [],
      days: [],
    });
  });
});

describe('performance', () => {
  it('count 10,000 is fast', () => {
    const started = performance.now();
    const slots = planSlots(sched({ perDay: 10, timeZone: 'Europe/Berlin' }), {
      now: t('2025-06-02T00:00:00Z'),
      count: 10_000,
    });
    expect(slots).toHaveLength(10_000);
    const one = planSlots(sched({ perDay: 10_000 }), {
      now: t('2025-06-02T00:00:00Z'),
      count: 10_000,
    });
    expect(countByDate(one)).toEqual({ '2025-06-02': 10_000 });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('100,000 devices at 10/day (about 38 years ahead) is linear, not quadratic', () => {
    const started = performance.now();
    const p = previewPlan(sched({ perDay: 10, timeZone: 'America/New_York' }), 100_000, t('2025-06-02T00:00:00Z'));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(p.slots).toHaveLength(100_000);
    expect(p.days).toHaveLength(10_000);
    expect(p.days.every((d) => d.count === 10)).toBe(true);
    let ordered = true;
    for (let i = 1; i < p.slots.length; i++) if (!(nth(p.slots, i).at > nth(p.slots, i - 1).at)) ordered = false;
    expect(ordered).toBe(true);
  });
});

describe('properties (fixed seed)', () => {
  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Australia/Lord_Howe',
    'America/Santiago',
    'Asia/Kolkata',
    'Pacific/Apia',
  ];
  const time = fc
    .integer({ min: 0, max: 24 * 4 })
    .map((q) => `${String(Math.floor(q / 4)).padStart(2, '0')}:${String((q % 4) * 15).padStart(2, '0')}`);
  const arbSchedule = fc
    .record({
      perDay: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constant(10_000)),
      startOffsetDays: fc.integer({ min: -10, max: 20 }),
      weekdays: fc.subarray([...WEEKDAYS], { minLength: 1 }),
      a: time,
      b: time,
      timeZone: fc.constantFrom(...zones),
    })
    .filter((r) => r.a < r.b);

  it('slots are ordered, at/after now, on selected days inside the real window, and within quota per calendar day', () => {
    fc.assert(
      fc.property(
        arbSchedule,
        fc.integer({
          min: t('2011-01-01T00:00:00Z'),
          max: t('2030-12-31T00:00:00Z'),
        }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 60 }),
        (r, now, count, startedOnDay) => {
          const today = calendarDay(now, r.timeZone);
          const startDate = new Date(Date.parse(`${today}T00:00:00Z`) + r.startOffsetDays * 86_400_000)
            .toISOString()
            .slice(0, 10);
          const s: Schedule = {
            perDay: r.perDay,
            startDate,
            weekdays: r.weekdays,
            window: { start: r.a, end: r.b },
            timeZone: r.timeZone,
          };
          expect(validateSchedule(s)).toEqual([]);
          const slots = planSlots(s, { now, count, startedOnDay });
          expect(slots).toHaveLength(count);
          const perDay = countByDate(slots);
          for (const [date, n] of Object.entries(perDay)) {
            expect(n).toBeLessThanOrEqual(date === today ? Math.max(0, r.perDay - startedOnDay) : r.perDay);
            expect(date >= startDate && date >= today).toBe(true);
            expect(r.weekdays).toContain(weekdayOfDate(date));
          }
          const windows = new Map<string, [number, number]>();
          const problems: string[] = [];
          for (let i = 0; i < slots.length; i++) {
            const slot = nth(slots, i);
            let w = windows.get(slot.date);
            if (!w) {
              w = [localTimeToInstant(slot.date, r.a, r.timeZone), localTimeToInstant(slot.date, r.b, r.timeZone)];
              windows.set(slot.date, w);
              if (calendarDay(w[0], r.timeZone) !== slot.date) problems.push(`window start of ${slot.date} on another day`);
            }
            if (slot.at < now) problems.push(`slot ${i} before now`);
            if (!Number.isInteger(slot.at)) problems.push(`slot ${i} not whole ms`);
            if (i > 0 && slot.at <= nth(slots, i - 1).at) problems.push(`slot ${i} not after slot ${i - 1}`);
            if (slot.at < w[0] || slot.at >= w[1]) problems.push(`slot ${i} outside the window of ${slot.date}`);
          }
          const lastSlot = slots[slots.length - 1];
          if (lastSlot && calendarDay(lastSlot.at, r.timeZone) !== lastSlot.date) problems.push('last slot on another day');
          expect(problems).toEqual([]);
        },
      ),
      { seed: 20250602, numRuns: 200 },
    );
  });
});
