/** Times, sizes and counts as the console shows them. */

export const userTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string, withDate: boolean): Intl.DateTimeFormat {
  const key = `${timeZone}|${withDate}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      ...(withDate ? { year: 'numeric', month: '2-digit', day: '2-digit' } : {}),
      hour: '2-digit',
      minute: '2-digit',
      second: withDate ? undefined : '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(key, f);
  }
  return f;
}

/** "2026-12-02, 09:48" in `timeZone` (the user's by default); "—" for none. */
export function fmtTime(iso: string | null | undefined, timeZone = userTimeZone()): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  try {
    return formatter(timeZone, true).format(d);
  } catch {
    return formatter('UTC', true).format(d);
  }
}

/** A time in the rollout's zone, and in the user's when it differs. */
export function fmtBoth(iso: string | null | undefined, rolloutZone: string | undefined): string {
  if (!iso) return '—';
  const user = userTimeZone();
  const zone = rolloutZone || 'UTC';
  const there = fmtTime(iso, zone);
  const a = `${there} ${zone}`;
  if (zone === user) return a;
  const here = fmtTime(iso, user);
  // the same calendar day: the time alone
  const short = here.slice(0, 10) === there.slice(0, 10) ? here.slice(12) : here;
  return `${a} · ${short} your time (${user})`;
}

/** "3 min ago", "2 h ago", "5 d ago". */
export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined ? '—' : n.toLocaleString('en-US'));

/** Today's date (YYYY-MM-DD) in a time zone. */
export function todayIn(timeZone: string): string {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}

/** The hour (YYYY-MM-DD HH:00) of an instant in a time zone: the buckets of the per-hour charts. */
export function hourIn(iso: string, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(iso));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:00`;
}

export function timeZones(): string[] {
  const f = (Intl as any).supportedValuesOf as ((k: string) => string[]) | undefined;
  const zones = f ? f('timeZone') : [];
  return zones.includes('UTC') ? zones : ['UTC', ...zones];
}
