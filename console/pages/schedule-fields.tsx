/** The scheduling fields of DME's Installation window (S1–S4, S8), shared by New rollout and Change schedule. */
import { timeZones } from '../format';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_NAMES: Record<string, string> = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

export interface ScheduleForm {
  perDay: string;
  unlimited: boolean;
  startDate: string;
  weekdays: string[];
  start: string;
  end: string;
  timeZone: string;
}

/** The request's `schedule` from the form. */
export function scheduleBody(f: ScheduleForm, withZone = true) {
  return {
    perDay: f.unlimited ? ('unlimited' as const) : Number(f.perDay),
    ...(f.startDate ? { startDate: f.startDate } : {}),
    weekdays: f.weekdays,
    window: { start: f.start, end: f.end },
    ...(withZone ? { timeZone: f.timeZone } : {}),
  };
}

export function ScheduleFields({
  form,
  set,
  prefix,
  zoneFixed,
}: {
  form: ScheduleForm;
  set: (patch: Partial<ScheduleForm>) => void;
  prefix: string;
  zoneFixed?: boolean;
}) {
  const id = (n: string) => `${prefix}-${n}`;
  return (
    <div class="grid-form">
      <label for={id('per-day')}>Installations per day</label>
      <div class="row">
        <input
          id={id('per-day')}
          type="number"
          min={1}
          max={10000}
          required={!form.unlimited}
          disabled={form.unlimited}
          value={form.perDay}
          onInput={(e) => set({ perDay: (e.target as HTMLInputElement).value })}
        />
        <label class="check">
          <input
            type="checkbox"
            checked={form.unlimited}
            onChange={(e) => set({ unlimited: (e.target as HTMLInputElement).checked })}
          />{' '}
          Unlimited (all at once)
        </label>
      </div>
      <label for={id('start-date')}>Start date</label>
      <input
        id={id('start-date')}
        type="date"
        value={form.startDate}
        onInput={(e) => set({ startDate: (e.target as HTMLInputElement).value })}
      />
      <fieldset class="span">
        <legend>Days of the week</legend>
        {WEEKDAYS.map((d) => (
          <label key={d} class="check">
            <input
              type="checkbox"
              name={id('weekday')}
              value={d}
              checked={form.weekdays.includes(d)}
              onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked;
                set({ weekdays: WEEKDAYS.filter((w) => (w === d ? on : form.weekdays.includes(w))) });
              }}
            />{' '}
            {DAY_NAMES[d]}
          </label>
        ))}
      </fieldset>
      <label for={id('window-start')}>Window start</label>
      <input
        id={id('window-start')}
        type="time"
        required
        value={form.start}
        onInput={(e) => set({ start: (e.target as HTMLInputElement).value })}
      />
      <label for={id('window-end')}>Window end (24:00 = midnight)</label>
      <input
        id={id('window-end')}
        required
        pattern="([01]\d|2[0-3]):[0-5]\d|24:00"
        value={form.end}
        onInput={(e) => set({ end: (e.target as HTMLInputElement).value })}
      />
      {zoneFixed ? null : (
        <>
          <label for={id('time-zone')}>Time zone</label>
          <select
            id={id('time-zone')}
            value={form.timeZone}
            onChange={(e) => set({ timeZone: (e.target as HTMLSelectElement).value })}
          >
            {timeZones().map((z) => (
              <option key={z}>{z}</option>
            ))}
          </select>
        </>
      )}
    </div>
  );
}
