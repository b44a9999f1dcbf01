/**
 * Scheduling of installation starts (SPEC S1–S9): schedule validation and the planned start of every
 * device. Pure: no I/O, no clock (`now` is a parameter). The model and its decisions (quota spacing,
 * DST, overnight windows): docs/scheduling.md.
 */
import { IANAZone } from 'luxon';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** Monday first (ISO order). */
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface ScheduleWindow {
  /** HH:MM, 00:00–23:59 */
  start: string;
  /** HH:MM, 00:01–24:00; must be after `start` (overnight windows are not supported) */
  end: string;
}

export interface Schedule {
  /** Starts per calendar day (in `timeZone`): 1…10000, or 'unlimited' (S1). */
  perDay: number | 'unlimited';
  /** YYYY-MM-DD, a calendar day in `timeZone` (S2). A date in the past means "today". */
  startDate: string;
  /** Days of the week on which starts may happen (S3); non-empty, no duplicates. */
  weekdays: Weekday[];
  /** Time of day within which starts may happen (S4); [start, end). */
  window: ScheduleWindow;
  /** IANA time zone, e.g. 'Europe/Berlin' (S8). */
  timeZone: string;
}

export interface Slot {
  /** Planned start, epoch ms. */
  at: number;
  /** The calendar day (YYYY-MM-DD in the schedule's time zone) whose quota this start counts against. */
  date: string;
}

export interface ScheduleFieldError {
  field: string;
  message: string;
}

export interface PlanOptions {
  /** The current instant (epoch ms). Nothing is planned before it. */
  now: number;
  /** How many starts to plan (e.g. the number of devices still to start). */
  count: number;
  /** Starts already made on the calendar day (schedule tz) containing `now`; default 0. */
  startedOnDay?: number;
  /**
   * Devices not started yet in the whole rollout (≥ count; default count): a day starts
   * n = min(quota left that day, devices left) of them (S5). A rollout plans page by page, so `count`
   * (this page) may be fewer.
   */
  devicesLeft?: number;
  /**
   * The rollout's last start (epoch ms), when this plan continues a day already under way (the next
   * page, continue-as-new): if it lies in that day's window, the day's rest keeps spreading evenly after
   * it instead of starting again at `now`.
   */
  lastStartAt?: number;
  /**
   * `spread` (default, S5): a day's n starts are spaced window ÷ n. `quota`: the rule before S5 changed
   * (window ÷ perDay, whatever the number of devices), for rollouts started before it.
   */
  spacing?: 'spread' | 'quota';
}

export interface PreviewPlan {
  /** One slot per device, in order. */
  slots: Slot[];
  /** Number of starts per calendar day, in date order (only days with starts). */
  days: { date: string; count: number }[];
}

/** Thrown by the planning functions when given a schedule that `validateSchedule` rejects. */
export class InvalidScheduleError extends Error {
  readonly errors: ScheduleFieldError[];
  constructor(errors: ScheduleFieldError[]) {
    super(`invalid schedule: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
    this.name = 'InvalidScheduleError';
    this.errors = errors;
  }
}

export const PER_DAY_MIN = 1;
export const PER_DAY_MAX = 10000;

/**
 * Defaults (seed dme-install-software; SPEC S1–S4, S8):
 * - perDay: 100
 * - startDate: `today` (the caller passes today's date in the schedule's time zone)
 * - weekdays: Monday–Friday
 * - window: 09:00–17:00 (the seed names no default window; a business-hours window is our choice)
 * - timeZone: 'UTC'
 */
export function scheduleDefaults(today: string): Schedule {
  return {
    perDay: 100,
    startDate: today,
    weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
    window: { start: '09:00', end: '17:00' },
    timeZone: 'UTC',
  };
}

export type PartialSchedule = Partial<Omit<Schedule, 'window'>> & {
  window?: Partial<ScheduleWindow>;
};

/**
 * Fills in the defaults of `scheduleDefaults` for missing fields; a missing startDate becomes
 * today in the (given or default) time zone. Does NOT validate: run `validateSchedule` on the
 * result. (If the given time zone is invalid, "today" is computed in UTC; validation will then
 * report the time zone.)
 */
export function normalizeSchedule(partial: PartialSchedule | undefined, now: number): Schedule {
  const p = partial ?? {};
  const timeZone = p.timeZone ?? 'UTC';
  const today = calendarDay(now, isValidTimeZone(timeZone) ? timeZone : 'UTC');
  const d = scheduleDefaults(today);
  return {
    perDay: p.perDay ?? d.perDay,
    startDate: p.startDate ?? d.startDate,
    weekdays: p.weekdays ? [...p.weekdays] : d.weekdays,
    window: {
      start: p.window?.start ?? d.window.start,
      end: p.window?.end ?? d.window.end,
    },
    timeZone,
  };
}

/** True for a time zone name the runtime knows (IANA names such as 'Europe/Berlin', 'UTC'). */
function isValidTimeZone(tz: unknown): tz is string {
  // Offsets such as "+01:00" are accepted by some Intl versions, but are not IANA zones.
  return typeof tz === 'string' && tz.trim() === tz && !/^[+-]/.test(tz) && IANAZone.isValidZone(tz);
}

const TIME_RE = /^(\d{2}):(\d{2})$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Minutes since midnight for "HH:MM" (00:00–24:00), or undefined. */
function parseTime(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const m = TIME_RE.exec(s);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/** Days since 1970-01-01 for a real "YYYY-MM-DD" date, or undefined. */
function parseDate(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  // Date.UTC maps years 0–99 to 1900–1999; comparing back catches that and e.g. Feb 30.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms / DAY_MS;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

function formatDay(dayNumber: number): string {
  return new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday of a day number (days since 1970-01-01, a Thursday). */
function weekdayOf(dayNumber: number): Weekday {
  return WEEKDAYS[(((dayNumber + 3) % 7) + 7) % 7] as Weekday;
}

/** The weekday of a calendar date "YYYY-MM-DD". Throws RangeError for an invalid date. */
export function weekdayOfDate(date: string): Weekday {
  const n = parseDate(date);
  if (n === undefined) throw new RangeError(`not a date: ${JSON.stringify(date)}`);
  return weekdayOf(n);
}

/**
 * Validation errors (empty when valid), each naming the field (`perDay`, `startDate`, `weekdays`,
 * `window.start`, `window.end`, `timeZone`). Accepts any value so the API can pass request bodies.
 */
export function validateSchedule(s: unknown): ScheduleFieldError[] {
  const errors: ScheduleFieldError[] = [];
  if (typeof s !== 'object' || s === null || Array.isArray(s)) {
    return [{ field: 'schedule', message: 'schedule must be an object' }];
  }
  const o = s as Record<string, unknown>;

  const perDay = o.perDay;
  if (
    perDay !== 'unlimited' &&
    !(typeof perDay === 'number' && Number.isInteger(perDay) && perDay >= PER_DAY_MIN && perDay <= PER_DAY_MAX)
  ) {
    errors.push({
      field: 'perDay',
      message: `perDay must be a whole number from ${PER_DAY_MIN} to ${PER_DAY_MAX}, or 'unlimited' (got ${describe(perDay)})`,
    });
  }

  if (parseDate(o.startDate) === undefined) {
    errors.push({
      field: 'startDate',
      message: `startDate must be a real calendar date in the form YYYY-MM-DD (got ${describe(o.startDate)})`,
    });
  }

  const weekdays = o.weekdays;
  if (!Array.isArray(weekdays)) {
    errors.push({
      field: 'weekdays',
      message: `weekdays must be a list of days such as ['mon','tue'] (got ${describe(weekdays)})`,
    });
  } else if (weekdays.length === 0) {
    errors.push({
      field: 'weekdays',
      message: 'weekdays must select at least one day of the week',
    });
  } else {
    const unknown = weekdays.filter((w) => !(WEEKDAYS as readonly unknown[]).includes(w));
    if (unknown.length > 0) {
      errors.push({
        field: 'weekdays',
        message: `weekdays contains unknown day(s) ${unknown.map(describe).join(', ')}; allowed: ${WEEKDAYS.join(', ')}`,
      });
    }
    const dups = weekdays.filter((w, i) => weekdays.indexOf(w) !== i);
    if (dups.length > 0) {
      errors.push({
        field: 'weekdays',
        message: `weekdays contains duplicate day(s) ${[...new Set(dups)].map(describe).join(', ')}`,
      });
    }
  }

  const win = o.window;
  if (typeof win !== 'object' || win === null || Array.isArray(win)) {
    errors.push({
      field: 'window',
      message: `window must be an object { start: 'HH:MM', end: 'HH:MM' } (got ${describe(win)})`,
    });
  } else {
    const w = win as Record<string, unknown>;
    const start = parseTime(w.start);
    const end = parseTime(w.end);
    const startOk = start !== undefined && start < 24 * 60;
    if (!startOk) {
      errors.push({
        field: 'window.start',
        message: `window.start must be a time of day HH:MM from 00:00 to 23:59 (got ${describe(w.start)})`,
      });
    }
    if (end === undefined) {
      errors.push({
        field: 'window.end',
        message: `window.end must be a time of day HH:MM from 00:00 to 24:00 (got ${describe(w.end)})`,
      });
    } else if (startOk && start !== undefined) {
      if (end < start) {
        errors.push({
          field: 'window.end',
          message: `window.end (${String(w.end)}) is before window.start (${String(w.start)}): overnight windows are not supported; the window must lie within one calendar day (use end 24:00 for "until midnight")`,
        });
      } else if (end === start) {
        errors.push({
          field: 'window.end',
          message: `window.end must be after window.start (both are ${String(w.start)}; an empty window allows no starts)`,
        });
      }
    }
  }

  if (!isValidTimeZone(o.timeZone)) {
    errors.push({
      field: 'timeZone',
      message: `timeZone must be a valid IANA time zone such as 'Europe/Berlin' or 'UTC' (got ${describe(o.timeZone)})`,
    });
  }
  return errors;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

function assertValid(s: Schedule): void {
  const errors = validateSchedule(s);
  if (errors.length > 0) throw new InvalidScheduleError(errors);
}

function zoneOf(timeZone: string): IANAZone {
  if (!isValidTimeZone(timeZone)) throw new RangeError(`invalid time zone: ${JSON.stringify(timeZone)}`);
  return IANAZone.create(timeZone);
}

/** Offset (ms) of the zone at an instant. */
function offsetMs(zone: IANAZone, at: number): number {
  return Math.round(zone.offset(at) * MINUTE_MS);
}

/** The calendar day (YYYY-MM-DD) in `timeZone` that contains the instant `at`. */
export function calendarDay(at: number, timeZone: string): string {
  if (!Number.isFinite(at)) throw new RangeError(`not an instant: ${at}`);
  const zone = zoneOf(timeZone);
  return formatDay(Math.floor((at + offsetMs(zone, at)) / DAY_MS));
}

/**
 * Local wall time → instant converter for one zone. Offsets are sampled once per local day (at
 * local midnight read as UTC) and cached, so planning far ahead costs about one tz lookup per day.
 */
class LocalClock {
  private readonly samples = new Map<number, number>();
  constructor(private readonly zone: IANAZone) {}

  /** Offset sampled at the instant numerically equal to local midnight of `dayNumber`. */
  private sample(dayNumber: number): number {
    let v = this.samples.get(dayNumber);
    if (v === undefined) {
      v = offsetMs(this.zone, dayNumber * DAY_MS);
      this.samples.set(dayNumber, v);
    }
    return v;
  }

  /**
   * The instant of local wall time `local` (ms since 1970-01-01T00:00 local), which lies on local
   * day `dayNumber` or is exactly the next day's midnight. Skipped local time → first instant after
   * the gap; repeated local time → first occurrence.
   */
  toInstant(dayNumber: number, local: number): number {
    // Every instant whose local time is on this day lies within [local − 14h, local + 12h], which
    // is covered by the samples of days d−1 … d+2.
    const a = this.sample(dayNumber - 1);
    const b = this.sample(dayNumber);
    const c = this.sample(dayNumber + 1);
    const d = this.sample(dayNumber + 2);
    if (a === b && b === c && c === d) return local - a; // no transition nearby: the common case
    const candidates = [...new Set([a, b, c, d])];
    let best: number | undefined;
    for (const off of candidates) {
      const t = local - off;
      if (offsetMs(this.zone, t) === off && (best === undefined || t < best)) best = t;
    }
    if (best !== undefined) return best; // earliest occurrence
    // In a gap: find the first instant whose local time is past `local` (the transition instant).
    let lo = local - Math.max(...candidates); // local time there is before `local`
    let hi = local - Math.min(...candidates); // local time there is after `local`
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (mid + offsetMs(this.zone, mid) > local) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}

/**
 * The instant of the local wall time `time` (HH:MM, "24:00" = next day's midnight) on `date` in
 * `timeZone`. A time skipped by DST maps to the first instant after the gap; a repeated time to its
 * first occurrence.
 */
export function localTimeToInstant(date: string, time: string, timeZone: string): number {
  const day = parseDate(date);
  if (day === undefined) throw new RangeError(`not a date: ${JSON.stringify(date)}`);
  const minutes = parseTime(time);
  if (minutes === undefined) throw new RangeError(`not a time of day: ${JSON.stringify(time)}`);
  return new LocalClock(zoneOf(timeZone)).toInstant(day, day * DAY_MS + minutes * MINUTE_MS);
}

interface DayWindow {
  day: number;
  date: string;
  /** first instant of the window */
  start: number;
  /** end instant, exclusive */
  end: number;
}

/** Iterates the selected days from `fromDay` on, with their real windows (non-empty ones only). */
class WindowIterator {
  private readonly clock: LocalClock;
  private readonly selected: boolean[];
  private readonly startMin: number;
  private readonly endMin: number;
  private day: number;

  constructor(s: Schedule, fromDay: number) {
    this.clock = new LocalClock(zoneOf(s.timeZone));
    this.selected = WEEKDAYS.map((w) => s.weekdays.includes(w));
    this.startMin = parseTime(s.window.start) as number;
    this.endMin = parseTime(s.window.end) as number;
    this.day = fromDay;
  }

  next(): DayWindow {
    // A valid schedule selects ≥ 1 weekday with a window ≥ 1 minute; only a window lying entirely
    // inside a DST gap is empty, which cannot happen on every selected day for long.
    for (let guard = 0; guard < 3660; guard++) {
      const day = this.day++;
      if (!this.selected[(((day + 3) % 7) + 7) % 7]) continue;
      const start = this.clock.toInstant(day, day * DAY_MS + this.startMin * MINUTE_MS);
      const end = this.clock.toInstant(day, day * DAY_MS + this.endMin * MINUTE_MS);
      if (end <= start) continue; // window entirely inside a DST gap: no real time, no starts
      return { day, date: formatDay(day), start, end };
    }
    throw new Error('schedule yields no start instants for ten years');
  }
}

/**
 * The next `count` planned start instants at or after `now`, in order (see the module comment for
 * the rules). Throws InvalidScheduleError for an invalid schedule, RangeError for bad options.
 * Cost is linear in `count` plus the number of calendar days spanned.
 */
export function planSlots(s: Schedule, opts: PlanOptions): Slot[] {
  assertValid(s);
  const { now, count } = opts;
  const startedOnDay = opts.startedOnDay ?? 0;
  if (!Number.isFinite(now)) throw new RangeError(`now must be an instant (epoch ms), got ${now}`);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number ≥ 0, got ${count}`);
  if (!Number.isInteger(startedOnDay) || startedOnDay < 0) {
    throw new RangeError(`startedOnDay must be a whole number ≥ 0, got ${startedOnDay}`);
  }
  if (count === 0) return [];

  const today = parseDate(calendarDay(now, s.timeZone)) as number;
  const startDay = parseDate(s.startDate) as number;
  const windows = new WindowIterator(s, Math.max(today, startDay));

  if (s.perDay === 'unlimited') {
    for (;;) {
      const w = windows.next();
      if (w.end <= now) continue; // this day's window is over
      const at = Math.max(w.start, now); // inside the window: start now
      return Array.from({ length: count }, () => ({ at, date: w.date }));
    }
  }

  if ((opts.spacing ?? 'spread') === 'quota') return quotaSpacedSlots(s.perDay, windows, today, now, count, startedOnDay);
  const devicesLeft = opts.devicesLeft ?? count;
  if (!Number.isInteger(devicesLeft) || devicesLeft < count) {
    throw new RangeError(`devicesLeft must be a whole number ≥ count (${count}), got ${devicesLeft}`);
  }
  return spreadSlots(s.perDay, windows, { today, now, count, startedOnDay, devicesLeft, lastStartAt: opts.lastStartAt });
}

/**
 * S5: a selected day that starts n = min(quota left that day, devices left) installs spaces them
 * window ÷ n apart from the window start. The day containing `now`, joined inside its window, spreads
 * what it still allows evenly over the rest of its window: from `now` (the first start at once), or —
 * continuing a day under way — after `lastStartAt`, keeping the spacing the day had.
 */
function spreadSlots(
  q: number,
  windows: WindowIterator,
  o: { today: number; now: number; count: number; startedOnDay: number; devicesLeft: number; lastStartAt?: number },
): Slot[] {
  const { today, now, count } = o;
  const slots: Slot[] = [];
  let left = o.devicesLeft;
  while (slots.length < count) {
    const w = windows.next();
    if (w.end <= now) continue; // this day's window is over
    const allowed = w.day === today ? Math.max(0, q - o.startedOnDay) : q;
    const n = Math.min(allowed, left);
    if (n === 0) continue;
    let at: (i: number) => number;
    const last = o.lastStartAt;
    const anchored = last !== undefined && last >= w.start && last < w.end && now > w.start;
    // continuing after the last start: n more slots, evenly between it and the window end
    const afterLast = (i: number) => (last as number) + Math.floor(((i + 1) * (w.end - (last as number))) / (n + 1));
    if (anchored && afterLast(0) >= now) {
      at = afterLast;
    } else {
      const from = Math.max(w.start, now);
      at = (i: number) => from + Math.floor((i * (w.end - from)) / n);
    }
    const take = Math.min(n, count - slots.length);
    for (let i = 0; i < take; i++) slots.push({ at: at(i), date: w.date });
    left -= n;
  }
  return slots;
}

/** The spacing before S5 changed: the i-th start of a day at A + floor(i·(B−A)/perDay). */
function quotaSpacedSlots(
  q: number,
  windows: WindowIterator,
  today: number,
  now: number,
  count: number,
  startedOnDay: number,
): Slot[] {
  const slots: Slot[] = [];
  while (slots.length < count) {
    const w = windows.next();
    const len = w.end - w.start;
    const slotAt = (i: number) => w.start + Math.floor((i * len) / q);
    let first = 0;
    let allowed = q;
    if (w.day === today) {
      allowed = Math.max(0, q - startedOnDay);
      if (now > w.start) {
        first = Math.min(q, Math.max(0, Math.ceil(((now - w.start) * q) / len) - 1));
        while (first < q && slotAt(first) < now) first++;
      }
    }
    const last = Math.min(q, first + allowed, first + (count - slots.length)); // exclusive
    for (let i = first; i < last; i++) {
      const at = slotAt(i);
      if (at >= now) slots.push({ at, date: w.date });
    }
  }
  return slots;
}

/** The next planned start at or after `now` (for progress: "next start due"), or undefined if none is needed. */
export function nextStart(s: Schedule, now: number, startedOnDay = 0): Slot | undefined {
  return planSlots(s, { now, count: 1, startedOnDay })[0];
}

/** Dry run (S9): the planned start of every one of `deviceCount` devices, and the starts per day. */
export function previewPlan(s: Schedule, deviceCount: number, now: number): PreviewPlan {
  const slots = planSlots(s, { now, count: deviceCount });
  const days: { date: string; count: number }[] = [];
  for (const slot of slots) {
    const last = days[days.length - 1];
    if (last && last.date === slot.date) last.count++;
    else days.push({ date: slot.date, count: 1 });
  }
  return { slots, days };
}
