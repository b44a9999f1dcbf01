/**
 * Installation status — DME's window with two tables (V3): *Installing* (not final yet, including the
 * jobs waiting for their slot) and *Installed* (final, for 7 days after they ended). Live (refreshed
 * every 2 s without reloading the page), searchable by rollout, status and device, keyset-paged (a
 * page of 100 out of any number of jobs); a row opens the job's log.
 */
import { useEffect, useState } from 'preact/hooks';
import { ALL_STATUSES, FINAL_STATUSES, type InstallStatus } from '../../domain/status';
import { api, type DeviceDetail, type Job, type JobPage, type LogEntry, qs, type Rollout } from '../api';
import { fmtBoth, fmtTime, userTimeZone } from '../format';
import { navigate, useCan } from '../session';
import { Dialog, ErrorBox, Pager, Section, StatusBadge, useData, usePager } from '../ui';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE = 100;

function JobLog({ jobId, onClose }: { jobId: string; onClose: () => void }) {
  const can = useCan();
  const [error, setError] = useState<unknown>(undefined);
  const log = useData(
    () => api<{ installation: Job & { rolloutId: string }; log: LogEntry[] }>('GET', `/api/v1/installations/${jobId}/log`),
    [jobId],
    3_000,
  );
  const j = log.data?.installation;
  return (
    <Dialog title={j ? `Log of ${j.externalId}` : 'Installation log'} onClose={onClose}>
      <ErrorBox error={log.error ?? error} />
      {j && !j.final && can('operator') ? (
        <p>
          <button
            type="button"
            class="danger"
            onClick={async () => {
              const reason = window.prompt('Cancel this job alone? Reason (optional):');
              if (reason === null) return;
              try {
                await api('POST', `/api/v1/installations/${jobId}/cancel`, reason ? { reason } : {});
                await log.reload();
              } catch (err) {
                setError(err);
              }
            }}
          >
            Cancel this job
          </button>
        </p>
      ) : null}
      {j ? (
        <p>
          <StatusBadge status={j.status} /> {j.method ? `by ${j.method}` : ''} · device{' '}
          <a href={`#/devices/${j.deviceId}`}>{j.externalId}</a> ({j.platform})
        </p>
      ) : null}
      <ol class="log" aria-label="Log entries">
        {(log.data?.log ?? []).map((l, i) => (
          <li key={i}>
            <time>{fmtTime(l.at)}</time> <strong>{l.event}</strong> {l.from || l.to ? `${l.from ?? '—'} → ${l.to ?? '—'}` : ''}{' '}
            {l.message}
          </li>
        ))}
      </ol>
    </Dialog>
  );
}

/** The rollout zone's time, and under it the user's when the zones differ. */
function TwoZones({ iso, zone }: { iso: string | null; zone: string }) {
  const user = userTimeZone();
  return (
    <>
      {fmtTime(iso, zone)}
      {iso && user !== zone ? <span class="sub">{fmtTime(iso, user)}</span> : null}
    </>
  );
}

function JobTable({
  rolloutId,
  table,
  title,
  live,
  search,
  zone,
  onOpen,
  count,
}: {
  rolloutId: string;
  table: 'installing' | 'installed';
  title: string;
  count?: number;
  live: boolean;
  search: string;
  zone: string;
  onOpen: (id: string) => void;
}) {
  const [status, setStatus] = useState('');
  const pager = usePager();
  // the server searches every page: part of the external id (any case) or the device id
  const q = search.trim();
  useEffect(() => pager.reset(), [q]); // a new search starts at the first page
  const statuses = ALL_STATUSES.filter((s) => FINAL_STATUSES.has(s as InstallStatus) === (table === 'installed'));
  const page = useData(
    () =>
      api<JobPage>(
        'GET',
        `/api/v1/rollouts/${rolloutId}/installations${qs({ table, status, device: q, limit: PAGE, cursor: pager.cursor })}`,
      ),
    [rolloutId, table, status, q, pager.cursor],
    live ? 2_000 : undefined,
  );
  const rows = page.data?.installations ?? [];
  const id = `tbl-${table}`;
  return (
    <Section
      title={count === undefined ? title : `${title} · ${count.toLocaleString('en-US')}`}
      actions={
        <label>
          Status
          <select
            value={status}
            onChange={(e) => {
              pager.reset();
              setStatus((e.target as HTMLSelectElement).value);
            }}
          >
            <option value="">all</option>
            {statuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      }
    >
      <ErrorBox error={page.error} />
      <table class="dense jobs" id={id} aria-label={`${title} table`} data-testid={`${table}-table`}>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Device</th>
            <th scope="col">Platform</th>
            <th scope="col">Status</th>
            <th scope="col">Method</th>
            <th scope="col">
              {table === 'installing' ? 'Planned / started' : 'Ended'} ({zone}
              {zone === userTimeZone() ? '' : ` · yours: ${userTimeZone()}`})
            </th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((j) => (
            <tr key={j.id} data-job-id={j.id} class="clickable" onClick={() => onOpen(j.id)}>
              <td class="num">{j.seq + 1}</td>
              <td>
                <button
                  type="button"
                  class="link"
                  onClick={(e) => {
                    e.stopPropagation();
                    onOpen(j.id);
                  }}
                  aria-label={`Log of ${j.externalId}`}
                >
                  {j.externalId}
                </button>
              </td>
              <td>{j.platform}</td>
              <td>
                <StatusBadge status={j.status} />
              </td>
              <td>{j.method ?? '—'}</td>
              <td>
                <TwoZones iso={table === 'installing' ? (j.startedAt ?? j.plannedAt) : j.endedAt} zone={zone} />
              </td>
              <td class="detail">{j.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.data && rows.length === 0 ? (
        <p class="muted" data-testid={`${table}-empty`}>
          {q ? 'No job of this rollout matches the device search.' : 'No jobs.'}
        </p>
      ) : null}
      <Pager pager={pager} nextCursor={page.data?.nextCursor} label={title} />
    </Section>
  );
}

function DeviceJobs({ deviceId, rolloutId, onOpen }: { deviceId: string; rolloutId: string; onOpen: (id: string) => void }) {
  const d = useData(() => api<DeviceDetail>('GET', `/api/v1/devices/${deviceId}`), [deviceId]);
  const jobs = (d.data?.jobs ?? []).filter((j) => !rolloutId || j.rolloutId === rolloutId);
  return (
    <Section title={`Jobs of device ${d.data?.externalId ?? deviceId}`}>
      <ErrorBox error={d.error} />
      <ul>
        {jobs.map((j) => (
          <li key={j.id}>
            <button type="button" class="link" onClick={() => onOpen(j.id)}>
              {j.software.name} {j.software.version}
            </button>{' '}
            <StatusBadge status={j.status} />
          </li>
        ))}
      </ul>
      {d.data && jobs.length === 0 ? <p class="muted">No job of this device in this rollout.</p> : null}
    </Section>
  );
}

export function StatusPage({ query }: { query: URLSearchParams }) {
  const rolloutId = query.get('rollout') ?? '';
  const [rolloutInput, setRolloutInput] = useState(rolloutId);
  const [search, setSearch] = useState('');
  const [live, setLive] = useState(true);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const rollouts = useData(
    () => api<{ rollouts: Rollout[] }>('GET', '/api/v1/rollouts?limit=100').catch(() => ({ rollouts: [] as Rollout[] })),
    [],
  );
  const rollout = useData(
    () => (UUID.test(rolloutId) ? api<Rollout>('GET', `/api/v1/rollouts/${rolloutId}`) : Promise.resolve(undefined)),
    [rolloutId],
    live ? 2_000 : undefined,
  );
  const zone = rollout.data?.schedule?.timeZone ?? 'UTC';
  const finalJobs = Object.entries(rollout.data?.counts ?? {}).reduce(
    (n, [s, c]) => (FINAL_STATUSES.has(s as InstallStatus) ? n + c : n),
    0,
  );
  const installingCount = rollout.data ? rollout.data.total - finalJobs : undefined;
  return (
    <>
      <h1>Installation status</h1>
      <Section title="Search">
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            if (UUID.test(rolloutInput.trim())) navigate(`#/status?rollout=${rolloutInput.trim()}`);
          }}
        >
          <label>
            Rollout
            <input
              list="status-rollouts"
              value={rolloutInput}
              size={38}
              placeholder="rollout id"
              onInput={(e) => setRolloutInput((e.target as HTMLInputElement).value)}
            />
            <datalist id="status-rollouts">
              {(rollouts.data?.rollouts ?? []).map((r) => (
                <option key={r.id} value={r.id}>
                  {r.software ? `${r.software.name} ${r.software.version}` : ''} {r.state}
                </option>
              ))}
            </datalist>
          </label>
          <button type="submit" disabled={!UUID.test(rolloutInput.trim())}>
            Show
          </button>
          <label>
            Device
            <input
              value={search}
              onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
              placeholder="external id or device id"
            />
          </label>
          <label class="check">
            <input type="checkbox" checked={live} onChange={(e) => setLive((e.target as HTMLInputElement).checked)} /> Live
          </label>
        </form>
        {rollout.data ? (
          <p>
            Rollout <a href={`#/rollouts/${rolloutId}`}>{rolloutId}</a> · {rollout.data.state} · {rollout.data.total} jobs · next
            start {fmtBoth(rollout.data.nextStartAt, zone)}
          </p>
        ) : null}
        <ErrorBox error={rollout.error} />
      </Section>
      {UUID.test(search.trim()) ? <DeviceJobs deviceId={search.trim()} rolloutId={rolloutId} onOpen={setOpen} /> : null}
      {UUID.test(rolloutId) ? (
        <div class="tables">
          <JobTable
            rolloutId={rolloutId}
            table="installing"
            title="Installing"
            count={installingCount}
            live={live}
            search={search}
            zone={zone}
            onOpen={setOpen}
          />
          <JobTable
            rolloutId={rolloutId}
            table="installed"
            title="Installed"
            count={rollout.data ? finalJobs : undefined}
            live={live}
            search={search}
            zone={zone}
            onOpen={setOpen}
          />
        </div>
      ) : (
        <p class="muted">Choose a rollout to see its Installing and Installed tables.</p>
      )}
      {open ? <JobLog jobId={open} onClose={() => setOpen(undefined)} /> : null}
    </>
  );
}
