/**
 * One rollout: state, groups, counts per status, installs per hour, next start; pause / resume /
 * cancel / change schedule / approve a group / retry; the report and the CSV; the Temporal UI filtered
 * on it. Live: refreshed every 2 s.
 */
import { useState } from 'preact/hooks';
import { ALL_STATUSES, FAILURE_STATUSES, FINAL_STATUSES, type InstallStatus, STATUS } from '../../domain/status';
import { api, download, type JobPage, qs, type Rollout, type Software } from '../api';
import { fmtBoth, fmtInt, hourIn, todayIn } from '../format';
import { navigate, useCan, useMe } from '../session';
import { type Bar, BarChart, ErrorBox, Progress, Section, StateBadge, StatusBadge, useData } from '../ui';
import { ScheduleFields, type ScheduleForm, scheduleBody } from './schedule-fields';

const FINAL_STATES = ['completed', 'cancelled'];
/** Jobs read for the per-hour chart (the Installed table, newest pages not needed: a chart of shape). */
const CHART_PAGES = 4;

async function finishedPerHour(id: string, timeZone: string): Promise<Bar[]> {
  const hours = new Map<string, number>();
  let cursor: string | null = null;
  for (let i = 0; i < CHART_PAGES; i++) {
    const page: JobPage = await api<JobPage>(
      'GET',
      `/api/v1/rollouts/${id}/installations${qs({ table: 'installed', limit: 500, cursor })}`,
    );
    for (const j of page.installations) {
      const at = j.endedAt ?? j.updatedAt;
      if (at) {
        const h = hourIn(at, timeZone);
        hours.set(h, (hours.get(h) ?? 0) + 1);
      }
    }
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  const keys = [...hours.keys()].sort();
  if (keys.length === 0) return [];
  // every hour between the first and the last, empty ones too
  const out: Bar[] = [];
  const first = new Date(`${keys[0]!.replace(' ', 'T')}:00Z`).getTime();
  const last = new Date(`${keys[keys.length - 1]!.replace(' ', 'T')}:00Z`).getTime();
  for (let t = first, n = 0; t <= last && n < 24 * 14; t += 3_600_000, n++) {
    const k = new Date(t).toISOString().slice(0, 13).replace('T', ' ') + ':00';
    out.push({ label: k, value: hours.get(k) ?? 0, short: k.slice(11) });
  }
  return out;
}

function ChangeSchedule({ rollout, onDone }: { rollout: Rollout; onDone: () => void }) {
  const s = rollout.schedule ?? {};
  const [form, setForm] = useState<ScheduleForm>({
    perDay: typeof s.perDay === 'number' ? String(s.perDay) : '100',
    unlimited: s.perDay === 'unlimited',
    startDate: s.startDate ?? todayIn(s.timeZone ?? 'UTC'),
    weekdays: s.weekdays ?? ['mon', 'tue', 'wed', 'thu', 'fri'],
    start: s.window?.start ?? '09:00',
    end: s.window?.end ?? '17:00',
    timeZone: s.timeZone ?? 'UTC',
  });
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api('PATCH', `/api/v1/rollouts/${rollout.id}/schedule`, scheduleBody(form, false));
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Change schedule">
      <ScheduleFields form={form} set={(p) => setForm((f) => ({ ...f, ...p }))} prefix="change" zoneFixed />
      <p class="muted">Time zone {form.timeZone} (it cannot change).</p>
      <button type="submit" class="primary">
        Save schedule
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function Groups({ rollout, onApproved }: { rollout: Rollout; onApproved: () => void }) {
  const can = useCan();
  const [error, setError] = useState<unknown>(undefined);
  const groups = rollout.groups ?? [];
  const wait = rollout.waitingFor;
  if (groups.length < 2) return null;
  const approve = async (index: number) => {
    try {
      await api('POST', `/api/v1/rollouts/${rollout.id}/groups/${index}/approve`, {});
      onApproved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Section title="Groups">
      {wait ? (
        <p class="warn" role="status">
          {wait.reason === 'approval' ? `Group ${wait.group} (${wait.name}) waits for an operator's approval.` : wait.message}
        </p>
      ) : null}
      <table class="dense" aria-label="Groups">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Group</th>
            <th scope="col">State</th>
            <th scope="col" class="num">
              Devices
            </th>
            <th scope="col" class="num">
              Started
            </th>
            <th scope="col" class="num">
              Succeeded
            </th>
            <th scope="col" class="num">
              Failed
            </th>
            <th scope="col">Progress</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={g.index} data-group={g.index}>
              <td class="num">{g.index}</td>
              <td>{g.name}</td>
              <td>
                <span class={`badge group-${g.state}`}>{g.state}</span>
              </td>
              <td class="num">{fmtInt(g.total)}</td>
              <td class="num">{fmtInt(g.started)}</td>
              <td class="num">{fmtInt(g.succeeded)}</td>
              <td class="num">{fmtInt(g.failed)}</td>
              <td>
                <Progress
                  counts={{ [STATUS.downloaded]: g.succeeded, [STATUS.installationFailed]: g.failed }}
                  total={g.total}
                  label={`Progress of group ${g.name}`}
                />
              </td>
              <td>
                {g.state === 'awaiting-approval' && can('operator') && !FINAL_STATES.includes(rollout.state) ? (
                  <button type="button" class="primary" onClick={() => approve(g.index)}>
                    Approve {g.name}
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ErrorBox error={error} />
    </Section>
  );
}

interface ReportList {
  total: number;
  entries?: {
    installationId: string;
    externalId: string;
    status: string;
    reason?: string | null;
    lastContactAt?: string | null;
  }[];
}
interface Report {
  total: number;
  retryOf: string | null;
  succeeded: ReportList;
  failed: ReportList;
  notHeardFrom: ReportList;
}

/** P1: success list, failure list with reasons, devices not heard from (GET /rollouts/:id/report). */
function ReportSection({ id, refresh }: { id: string; refresh: number }) {
  const rep = useData(() => api<Report>('GET', `/api/v1/rollouts/${id}/report?limit=20`), [id, refresh]);
  const r = rep.data;
  return (
    <Section title="Report">
      <ErrorBox error={rep.error} />
      {r ? (
        <>
          {r.retryOf ? (
            <p>
              Retry of <a href={`#/rollouts/${r.retryOf}`}>{r.retryOf}</a>
            </p>
          ) : null}
          <p data-testid="report-totals">
            {fmtInt(r.succeeded.total)} succeeded · {fmtInt(r.failed.total)} failed · {fmtInt(r.notHeardFrom.total)} not heard
            from
          </p>
          {r.failed.entries?.length ? (
            <table class="dense" aria-label="Failures">
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Status</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                {r.failed.entries.map((e) => (
                  <tr key={e.installationId}>
                    <td>{e.externalId}</td>
                    <td>
                      <StatusBadge status={e.status} />
                    </td>
                    <td>{e.reason ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {r.failed.total > (r.failed.entries?.length ?? 0) ? (
            <p class="muted">The first 20 failures; the CSV has every job.</p>
          ) : null}
        </>
      ) : null}
    </Section>
  );
}

export function RolloutPage({ id }: { id: string }) {
  const can = useCan();
  const me = useMe();
  const r = useData(() => api<Rollout>('GET', `/api/v1/rollouts/${encodeURIComponent(id)}`), [id], 2_000);
  const rollout = r.data;
  const zone = rollout?.schedule?.timeZone ?? 'UTC';
  const software = useData(
    () => (rollout?.softwareId ? api<Software>('GET', `/api/v1/software/${rollout.softwareId}`) : Promise.resolve(undefined)),
    [rollout?.softwareId],
  );
  const finalCount = rollout
    ? Object.entries(rollout.counts).reduce((n, [st, c]) => (FINAL_STATUSES.has(st as InstallStatus) ? n + c : n), 0)
    : 0;
  // reload the charts and the report when jobs end: each one while few, every 1 % of the rollout beyond
  const finalStep = Math.floor(finalCount / Math.max(1, Math.ceil((rollout?.total ?? 0) / 100)));
  const perHour = useData(() => finishedPerHour(id, zone), [id, zone, finalStep], 15_000);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const act = async (what: string, path: string, body: unknown = {}, method = 'POST') => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      const res = await api<{ id?: string }>(method, `/api/v1/rollouts/${id}${path}`, body);
      await r.reload();
      setNotice(`${what}: done.`);
      return res;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };

  if (r.error && !rollout) return <ErrorBox error={r.error} />;
  if (!rollout) return <p class="muted">Loading…</p>;
  const state = rollout.state;
  const ended = FINAL_STATES.includes(state);
  const failed = Object.entries(rollout.counts).reduce((n, [s, c]) => (FAILURE_STATUSES.has(s as InstallStatus) ? n + c : n), 0);
  const temporalUrl = `${me.temporal.uiUrl}/namespaces/${encodeURIComponent(me.temporal.namespace)}/workflows?query=${encodeURIComponent(
    `RolloutId="${id}"`,
  )}`;
  const sw = software.data;
  const s = rollout.schedule ?? {};
  const days = Array.isArray(rollout.startsByDay)
    ? rollout.startsByDay.map((d) => ({ label: d.date, value: d.count, short: d.date.slice(5) }))
    : Object.entries(rollout.startsByDay ?? {}).map(([d, n]) => ({ label: d, value: n, short: d.slice(5) }));

  return (
    <>
      <p>
        <a href="#/rollouts">← Rollouts</a>
      </p>
      <div class="page-head">
        <h1>
          Rollout {sw ? `of ${sw.name} ${sw.version}` : ''} <StateBadge state={state} />
          {rollout.cancelling ? <span class="badge st-cancelled">cancelling</span> : null}
        </h1>
        <div class="actions">
          {can('operator') && !ended ? (
            <>
              {state === 'paused' ? (
                <button type="button" class="primary" disabled={busy} onClick={() => act('Resume', '/resume')}>
                  Resume
                </button>
              ) : (
                <button type="button" disabled={busy} onClick={() => act('Pause', '/pause')}>
                  Pause
                </button>
              )}
              <button type="button" disabled={busy} onClick={() => setEditing(!editing)} aria-expanded={editing}>
                Change schedule
              </button>
              <button
                type="button"
                class="danger"
                disabled={busy}
                onClick={() => {
                  const reason = window.prompt('Cancel this rollout? Jobs not started are cancelled. Reason (optional):');
                  if (reason !== null) void act('Cancel', '/cancel', reason ? { reason } : {});
                }}
              >
                Cancel rollout
              </button>
            </>
          ) : null}
          {can('operator') && ended && failed > 0 ? (
            <button
              type="button"
              class="primary"
              disabled={busy}
              onClick={async () => {
                const res = await act('Retry', '/retry');
                if (res?.id) navigate(`#/rollouts/${res.id}`);
              }}
            >
              Retry {failed} failed
            </button>
          ) : null}
          <button
            type="button"
            onClick={() => download(`/api/v1/rollouts/${id}/report`, `rollout-${id}-report.json`).catch(setError)}
          >
            Report
          </button>
          <button
            type="button"
            onClick={() =>
              download(`/api/v1/rollouts/${id}/installations.csv`, `rollout-${id}-installations.csv`).catch(setError)
            }
          >
            CSV
          </button>
          <a class="button" href={temporalUrl} target="_blank" rel="noreferrer">
            Temporal UI
          </a>
        </div>
      </div>
      {notice ? (
        <p class="ok" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={error} />
      {rollout.pausedReason && rollout.pausedReason !== 'admin' ? (
        <p class="warn" role="status">
          Halted:{' '}
          {rollout.pausedReason === 'error-threshold' ? "a group's failures reached the error threshold" : rollout.pausedReason}.
          Nothing starts until it is resumed.
        </p>
      ) : null}
      {editing ? (
        <Section title="Change schedule">
          <ChangeSchedule
            rollout={rollout}
            onDone={() => {
              setEditing(false);
              setNotice('Schedule changed.');
              void r.reload();
            }}
          />
        </Section>
      ) : null}
      <div class="cols">
        <Section title="Progress">
          <Progress counts={rollout.counts} total={rollout.total} label="Rollout progress" />
          <dl class="facts">
            <dt>Devices</dt>
            <dd>{fmtInt(rollout.total)}</dd>
            <dt>Started</dt>
            <dd>{fmtInt(rollout.started)}</dd>
            <dt>Not started</dt>
            <dd>{fmtInt(rollout.remaining)}</dd>
            <dt>Next start</dt>
            <dd data-testid="next-start">
              {rollout.waitingFor && !rollout.nextStartAt
                ? `none while group ${rollout.waitingFor.group} (${rollout.waitingFor.name}) waits for ${
                    rollout.waitingFor.reason === 'approval' ? 'approval' : 'the group before it to succeed'
                  }`
                : fmtBoth(rollout.nextStartAt, zone)}
            </dd>
            <dt>Created</dt>
            <dd>{fmtBoth(rollout.createdAt, zone)}</dd>
            {rollout.completedAt ? (
              <>
                <dt>Ended</dt>
                <dd>{fmtBoth(rollout.completedAt, zone)}</dd>
              </>
            ) : null}
          </dl>
          <p>
            <a href={`#/status?rollout=${id}`}>Installation status of this rollout →</a>
          </p>
        </Section>
        <Section title="Counts per status">
          <table class="dense" aria-label="Counts per status">
            <tbody>
              {ALL_STATUSES.filter((st) => rollout.counts[st]).map((st) => (
                <tr key={st}>
                  <th scope="row">
                    <StatusBadge status={st} />
                  </th>
                  <td class="num">{fmtInt(rollout.counts[st])}</td>
                </tr>
              ))}
              {Object.entries(rollout.counts)
                .filter(([st, n]) => n && !(ALL_STATUSES as readonly string[]).includes(st))
                .map(([st, n]) => (
                  <tr key={st}>
                    <th scope="row">{st}</th>
                    <td class="num">{fmtInt(n)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </Section>
        <Section title="Schedule and options">
          <dl class="facts">
            <dt>Per day</dt>
            <dd>{String(s.perDay ?? 100)}</dd>
            <dt>Start date</dt>
            <dd>{s.startDate ?? '—'}</dd>
            <dt>Weekdays</dt>
            <dd>{(s.weekdays ?? []).join(', ')}</dd>
            <dt>Window</dt>
            <dd>
              {s.window?.start ?? '09:00'}–{s.window?.end ?? '17:00'}
            </dd>
            <dt>Time zone</dt>
            <dd>{zone}</dd>
            <dt>Use DM</dt>
            <dd>{rollout.options?.useDm ? 'yes' : 'no'}</dd>
            <dt>Push</dt>
            <dd>{rollout.options?.push ?? '—'}</dd>
          </dl>
        </Section>
      </div>
      <Groups rollout={rollout} onApproved={() => void r.reload()} />
      <ReportSection id={id} refresh={finalStep} />
      <Section title="Installs per hour">
        <BarChart bars={perHour.data ?? []} name={`Jobs finished per hour (${zone})`} testId="per-hour" />
        {days.length ? <BarChart bars={days} name={`Starts per day (${zone})`} testId="starts-per-day" height={90} /> : null}
      </Section>
    </>
  );
}
