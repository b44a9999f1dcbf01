/**
 * New rollout — DME's Installation window: software, the devices (ids, or the fleet filters) with the
 * number selected, Use DM (only where it applies, R1), the push method (SMS recommended), the
 * scheduling fields with DME's defaults (100 per day, today, Mon–Fri, a window, a time zone), groups and
 * thresholds, and a preview of the planned starts per day and across the window (POST /rollouts/preview)
 * before anything is started.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { dmApplicability, PLATFORMS, type Platform, type SoftwareFacts } from '../../domain/install-options';
import { api, type Preview, type Software } from '../api';
import { fmtBoth, fmtInt, hourIn, todayIn, userTimeZone } from '../format';
import { navigate } from '../session';
import { type Bar, BarChart, ErrorBox, Section, useData } from '../ui';
import { ScheduleFields, type ScheduleForm, scheduleBody } from './schedule-fields';

interface GroupRow {
  name: string;
  devices: string;
}

const facts = (s: Software): SoftwareFacts => ({
  kind: s.kind,
  platforms: s.platforms as Platform[],
  inHouseIos: s.inHouseIos,
  files: s.files.map((f) => ({ id: f.id, format: f.format })),
});

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function NewRolloutPage() {
  const software = useData(() => api<{ software: Software[] }>('GET', '/api/v1/software?limit=200'), []);
  const [softwareId, setSoftwareId] = useState('');
  const [by, setBy] = useState<'filter' | 'ids'>('filter');
  const [ids, setIds] = useState('');
  const [platform, setPlatform] = useState('');
  const [tags, setTags] = useState('');
  const [installedName, setInstalledName] = useState('');
  const [below, setBelow] = useState('');
  const [missing, setMissing] = useState(false);
  const [contactedWithin, setContactedWithin] = useState('');
  const [useDm, setUseDm] = useState(false);
  const [push, setPush] = useState<'sms' | 'wap' | 'mark'>('sms');
  const [skipUnreachable, setSkipUnreachable] = useState(false);
  const zone = userTimeZone();
  const [schedule, setSchedule] = useState<ScheduleForm>({
    perDay: '100',
    unlimited: false,
    startDate: todayIn(zone),
    weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
    start: '09:00',
    end: '17:00',
    timeZone: zone,
  });
  const [groups, setGroups] = useState<GroupRow[]>([]);
  const [successThreshold, setSuccessThreshold] = useState('');
  const [errorThreshold, setErrorThreshold] = useState('');
  const [approval, setApproval] = useState<'auto' | 'manual'>('auto');
  const [notify, setNotify] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [starting, setStarting] = useState(false);

  const chosen = software.data?.software.find((s) => s.id === softwareId);
  const dm = chosen
    ? dmApplicability(facts(chosen), platform && by === 'filter' ? (platform as Platform) : undefined)
    : undefined;
  const dmOffered = !!dm?.ok;

  const body = useMemo(() => {
    if (!softwareId) return undefined;
    const filter: Record<string, unknown> = {};
    if (platform) filter.platform = platform;
    const tagList = tags
      .split(/[,\s]+/)
      .map((t) => t.trim())
      .filter(Boolean);
    if (tagList.length) filter.tags = tagList;
    if (installedName.trim())
      filter.installed = {
        name: installedName.trim(),
        ...(below.trim() ? { below: below.trim() } : {}),
        ...(missing ? { missing: true } : {}),
      };
    if (contactedWithin.trim()) filter.contactedWithin = contactedWithin.trim();
    const idList = ids
      .split(/[\s,;]+/)
      .map((t) => t.trim())
      .filter(Boolean);
    const devices = by === 'ids' ? { ids: idList } : { filter };
    // nothing selected yet: no request (the API would answer 400)
    if (by === 'ids' ? idList.length === 0 : Object.keys(filter).length === 0) return undefined;
    // a schedule the API would refuse: wait for the user to finish it (the form marks the field)
    const perDayN = Number(schedule.perDay);
    if (!schedule.unlimited && !(Number.isInteger(perDayN) && perDayN >= 1 && perDayN <= 10_000)) return undefined;
    if (schedule.weekdays.length === 0 || !/^\d\d:\d\d$/.test(schedule.start) || !/^\d\d:\d\d$/.test(schedule.end))
      return undefined;
    const namedGroups = groups.filter((g) => g.name.trim());
    // every group but the last needs its size (the last takes the rest)
    if (namedGroups.slice(0, -1).some((g) => !g.devices.trim())) return undefined;
    return {
      softwareId,
      devices,
      options: { useDm: dmOffered && useDm, push, ...(skipUnreachable ? { skipUnreachable: true } : {}) },
      schedule: scheduleBody(schedule),
      ...(namedGroups.length
        ? {
            groups: namedGroups.map((g, i) => ({
              name: g.name.trim(),
              ...(g.devices.trim() && i < namedGroups.length - 1
                ? { devices: /%$/.test(g.devices.trim()) ? g.devices.trim() : Number(g.devices) }
                : {}),
            })),
            safety: {
              ...(successThreshold.trim() ? { successThreshold: successThreshold.trim() } : {}),
              ...(errorThreshold.trim() ? { errorThreshold: errorThreshold.trim() } : {}),
              approval,
            },
          }
        : {}),
      ...(notify.trim()
        ? {
            notify: notify
              .split(/[\s,;]+/)
              .map((a) => a.trim())
              .filter(Boolean),
          }
        : {}),
    };
  }, [
    softwareId,
    by,
    ids,
    platform,
    tags,
    installedName,
    below,
    missing,
    contactedWithin,
    dmOffered,
    useDm,
    push,
    skipUnreachable,
    schedule,
    groups,
    successThreshold,
    errorThreshold,
    approval,
    notify,
  ]);
  const debounced = useDebounced(body, 350);
  const key = JSON.stringify(debounced ?? null);
  const preview = useData(
    () => (debounced ? api<Preview>('POST', '/api/v1/rollouts/preview?limit=10000', debounced) : Promise.resolve(undefined)),
    [key],
  );
  const p = preview.data;
  const stale = JSON.stringify(body ?? null) !== key;

  const perDay: Bar[] = (p?.days ?? []).map((d) => ({ label: d.date, value: d.count, short: d.date.slice(5) }));
  const firstDay = p?.days[0]?.date;
  const acrossWindow: Bar[] = useMemo(() => {
    if (!p || !firstDay) return [];
    const tz = schedule.timeZone;
    const hours = new Map<string, number>();
    for (const s of p.slots) if (s.at && s.date === firstDay) hours.set(hourIn(s.at, tz), (hours.get(hourIn(s.at, tz)) ?? 0) + 1);
    return [...hours.entries()].sort().map(([h, n]) => ({ label: h, value: n, short: h.slice(11) }));
  }, [p, firstDay, schedule.timeZone]);

  const start = async (e: Event) => {
    e.preventDefault();
    if (!body) return;
    setStarting(true);
    setError(undefined);
    try {
      const created = await api<{ id: string }>('POST', '/api/v1/rollouts', body);
      navigate(`#/rollouts/${created.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setStarting(false);
    }
  };

  return (
    <>
      <h1>New rollout</h1>
      <form onSubmit={start} aria-label="New rollout" class="wizard">
        <Section title="1 · Software">
          <div class="grid-form">
            <label for="nr-software">Software</label>
            <select
              id="nr-software"
              required
              value={softwareId}
              onChange={(e) => setSoftwareId((e.target as HTMLSelectElement).value)}
            >
              <option value="">Choose software…</option>
              {(software.data?.software ?? []).map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name} {s.version} ({s.kind}; {s.platforms.join(', ')})
                </option>
              ))}
            </select>
          </div>
          <ErrorBox error={software.error} />
        </Section>

        <Section title="2 · Devices">
          <fieldset class="inline">
            <legend>Select devices</legend>
            <label class="check">
              <input type="radio" name="nr-by" checked={by === 'filter'} onChange={() => setBy('filter')} /> By filter
            </label>
            <label class="check">
              <input type="radio" name="nr-by" checked={by === 'ids'} onChange={() => setBy('ids')} /> By device ids
            </label>
          </fieldset>
          {by === 'ids' ? (
            <div class="grid-form">
              <label for="nr-ids">Device ids (one per line)</label>
              <textarea id="nr-ids" rows={4} value={ids} onInput={(e) => setIds((e.target as HTMLTextAreaElement).value)} />
            </div>
          ) : (
            <div class="grid-form">
              <label for="nr-platform">Platform</label>
              <select id="nr-platform" value={platform} onChange={(e) => setPlatform((e.target as HTMLSelectElement).value)}>
                <option value="">any</option>
                {PLATFORMS.map((pl) => (
                  <option key={pl}>{pl}</option>
                ))}
              </select>
              <label for="nr-tags">Tags (all of them)</label>
              <input id="nr-tags" value={tags} onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
              <label for="nr-installed">Reports software</label>
              <input
                id="nr-installed"
                value={installedName}
                onInput={(e) => setInstalledName((e.target as HTMLInputElement).value)}
              />
              <label for="nr-below">…in a version below</label>
              <input
                id="nr-below"
                value={below}
                disabled={!installedName.trim()}
                onInput={(e) => setBelow((e.target as HTMLInputElement).value)}
              />
              <label class="check span">
                <input
                  type="checkbox"
                  checked={missing}
                  disabled={!installedName.trim()}
                  onChange={(e) => setMissing((e.target as HTMLInputElement).checked)}
                />{' '}
                …or does not report it at all
              </label>
              <label for="nr-contacted">Contacted within</label>
              <input
                id="nr-contacted"
                placeholder="e.g. 30d"
                value={contactedWithin}
                onInput={(e) => setContactedWithin((e.target as HTMLInputElement).value)}
              />
            </div>
          )}
          <p class="selected" aria-live="polite" data-testid="selected-count">
            {p
              ? `${fmtInt(p.total)} devices selected`
              : !softwareId
                ? 'Choose the software to count the devices.'
                : body
                  ? 'Counting…'
                  : by === 'ids'
                    ? 'Give at least one device id (and a complete schedule and groups).'
                    : 'Choose at least one filter, e.g. the platform (and a complete schedule and groups).'}
          </p>
        </Section>

        <Section title="3 · Installation options">
          {dmOffered ? (
            <label class="check">
              <input type="checkbox" checked={useDm} onChange={(e) => setUseDm((e.target as HTMLInputElement).checked)} /> Use DM
              (install through the OMA DM engine; bootstrap first where needed)
            </label>
          ) : chosen ? (
            <p class="muted">
              {dm && !dm.ok ? (dm.reason.startsWith('Use DM') ? dm.reason : `Use DM does not apply: ${dm.reason}`) : ''}
            </p>
          ) : null}
          <fieldset class="inline">
            <legend>Push method (when DM is off or fails)</legend>
            <label class="check">
              <input type="radio" name="nr-push" checked={push === 'sms'} onChange={() => setPush('sms')} /> SMS push
              (recommended)
            </label>
            <label class="check">
              <input type="radio" name="nr-push" checked={push === 'wap'} onChange={() => setPush('wap')} /> WAP push
            </label>
            <label class="check">
              <input type="radio" name="nr-push" checked={push === 'mark'} onChange={() => setPush('mark')} /> Mark for
              installation
            </label>
          </fieldset>
          {chosen?.inHouseIos ? <p class="muted">In-house iOS apps always go by SMS push with a manifest link.</p> : null}
          <label class="check">
            <input
              type="checkbox"
              checked={skipUnreachable}
              onChange={(e) => setSkipUnreachable((e.target as HTMLInputElement).checked)}
            />{' '}
            Leave out devices the push cannot reach (no MSISDN, no file for their platform) instead of refusing the rollout
          </label>
        </Section>

        <Section title="4 · Scheduling">
          <ScheduleFields form={schedule} set={(patch) => setSchedule((f) => ({ ...f, ...patch }))} prefix="nr" />
        </Section>

        <Section
          title="5 · Groups and thresholds (optional)"
          actions={
            <button
              type="button"
              onClick={() => setGroups((g) => [...g, { name: g.length ? `group-${g.length + 1}` : 'canary', devices: '' }])}
            >
              Add group
            </button>
          }
        >
          {groups.length === 0 ? <p class="muted">One group of every device. Add groups to start with a canary.</p> : null}
          {groups.map((g, i) => (
            <div class="row" key={i}>
              <label>
                Group {i + 1} name
                <input
                  value={g.name}
                  onInput={(e) =>
                    setGroups((gs) => gs.map((x, j) => (j === i ? { ...x, name: (e.target as HTMLInputElement).value } : x)))
                  }
                />
              </label>
              <label>
                Devices (count or %; last: the rest)
                <input
                  value={g.devices}
                  disabled={i === groups.length - 1}
                  onInput={(e) =>
                    setGroups((gs) => gs.map((x, j) => (j === i ? { ...x, devices: (e.target as HTMLInputElement).value } : x)))
                  }
                />
              </label>
              <button type="button" onClick={() => setGroups((gs) => gs.filter((_, j) => j !== i))}>
                Remove group {i + 1}
              </button>
            </div>
          ))}
          {groups.length ? (
            <div class="row">
              <label>
                Success threshold
                <input
                  placeholder="e.g. 90%"
                  value={successThreshold}
                  onInput={(e) => setSuccessThreshold((e.target as HTMLInputElement).value)}
                />
              </label>
              <label>
                Error threshold (halts)
                <input
                  placeholder="e.g. 5%"
                  value={errorThreshold}
                  onInput={(e) => setErrorThreshold((e.target as HTMLInputElement).value)}
                />
              </label>
              <label>
                Next group starts
                <select
                  value={approval}
                  onChange={(e) => setApproval((e.target as HTMLSelectElement).value as 'auto' | 'manual')}
                >
                  <option value="auto">automatically</option>
                  <option value="manual">after approval</option>
                </select>
              </label>
            </div>
          ) : null}
          <div class="grid-form">
            <label for="nr-notify">Notify (email addresses)</label>
            <input id="nr-notify" value={notify} onInput={(e) => setNotify((e.target as HTMLInputElement).value)} />
          </div>
        </Section>

        <Section title="6 · Preview">
          <div aria-busy={stale || (!p && !preview.error && !!body)}>
            <ErrorBox error={preview.error} />
            {p ? (
              <>
                <p data-testid="preview-summary">
                  {fmtInt(p.total)} devices on {p.days.length} day{p.days.length === 1 ? '' : 's'}; first start{' '}
                  {fmtBoth(p.firstStartAt, schedule.timeZone)}; last start {fmtBoth(p.lastStartAt, schedule.timeZone)}.
                </p>
                {p.skipped?.total ? (
                  <p class="warn" role="status">
                    {fmtInt(p.skipped.total)} selected devices are left out: {p.skipped.noMsisdn} without an MSISDN,{' '}
                    {p.skipped.noFile} without a file for their platform (e.g.{' '}
                    {p.skipped.first.map((d) => d.externalId).join(', ')}).
                  </p>
                ) : null}
                {p.groups && p.groups.length > 1 ? (
                  <table class="dense" aria-label="Planned groups">
                    <thead>
                      <tr>
                        <th scope="col">Group</th>
                        <th scope="col" class="num">
                          Devices
                        </th>
                        <th scope="col">First start</th>
                      </tr>
                    </thead>
                    <tbody>
                      {p.groups.map((g) => (
                        <tr key={g.index}>
                          <td>{g.name}</td>
                          <td class="num">{fmtInt(g.total)}</td>
                          <td>{fmtBoth(g.firstStartAt, schedule.timeZone)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
                {p.assumption ? <p class="muted">{p.assumption}</p> : null}
                <div class="cols">
                  <BarChart bars={perDay} name={`Planned starts per day (${schedule.timeZone})`} testId="preview-per-day" />
                  <BarChart
                    bars={acrossWindow}
                    name={`Planned starts across the window on ${firstDay ?? '—'} (per hour)`}
                    testId="preview-window"
                  />
                </div>
              </>
            ) : (
              <p class="muted">The preview appears when the software and devices are chosen.</p>
            )}
          </div>
        </Section>
        <div class="row">
          <button type="submit" class="primary" disabled={!body || starting || !p || !!preview.error || stale}>
            Start rollout
          </button>
          <ErrorBox error={error} />
        </div>
      </form>
    </>
  );
}
