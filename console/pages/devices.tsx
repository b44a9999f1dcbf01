/** Devices: list with the fleet filters and last contact; one device with its jobs, history and actions. */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { PLATFORMS } from '../../domain/install-options';
import { api, type Device, type DeviceDetail, qs } from '../api';
import { fmtAgo, fmtTime } from '../format';
import { useCan } from '../session';
import { ErrorBox, Pager, Section, StatusBadge, useData, usePager } from '../ui';

interface Filters {
  platform: string;
  tag: string;
  installed: string;
  below: string;
  silentFor: string;
  retired: boolean;
}

const NO_FILTERS: Filters = { platform: '', tag: '', installed: '', below: '', silentFor: '', retired: false };

export function DevicesPage() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const pager = usePager();
  const list = useData(
    () =>
      api<{ devices: Device[]; nextCursor: string | null }>(
        'GET',
        `/api/v1/devices${qs({
          platform: filters.platform,
          tag: filters.tag.trim(),
          installed: filters.installed.trim(),
          below: filters.installed.trim() ? filters.below.trim() : '',
          silentFor: filters.silentFor.trim(),
          retired: filters.retired ? 'true' : '',
          limit: 50,
          cursor: pager.cursor,
        })}`,
      ),
    [filters, pager.cursor],
    10_000,
  );
  const set = (k: keyof Filters) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setDraft((d) => ({ ...d, [k]: t.type === 'checkbox' ? t.checked : t.value }));
  };
  return (
    <>
      <h1>Devices</h1>
      <Section title="Filters">
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            pager.reset();
            setFilters(draft);
          }}
        >
          <label>
            Platform
            <select value={draft.platform} onChange={set('platform')}>
              <option value="">any</option>
              {PLATFORMS.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            Tag
            <input value={draft.tag} onInput={set('tag')} placeholder="e.g. field" />
          </label>
          <label>
            Has software
            <input value={draft.installed} onInput={set('installed')} placeholder="name" />
          </label>
          <label>
            …below version
            <input value={draft.below} onInput={set('below')} disabled={!draft.installed.trim()} />
          </label>
          <label>
            Silent for
            <input value={draft.silentFor} onInput={set('silentFor')} placeholder="e.g. 7d" />
          </label>
          <label class="check">
            <input type="checkbox" checked={draft.retired} onChange={set('retired')} /> Retired only
          </label>
          <button type="submit" class="primary">
            Apply
          </button>
        </form>
      </Section>
      <Section title="Devices">
        <ErrorBox error={list.error} />
        <table class="dense" aria-label="Devices">
          <thead>
            <tr>
              <th scope="col">External id</th>
              <th scope="col">Platform</th>
              <th scope="col">MSISDN</th>
              <th scope="col">Tags</th>
              <th scope="col">DM</th>
              <th scope="col">Installed software</th>
              <th scope="col">Last contact</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.devices ?? []).map((d) => (
              <tr key={d.id} class={d.retiredAt ? 'retired' : undefined}>
                <td>
                  <a href={`#/devices/${d.id}`}>{d.externalId}</a>
                  {d.retiredAt ? <span class="badge st-cancelled">retired</span> : null}
                </td>
                <td>{d.platform}</td>
                <td>{d.msisdn ?? '—'}</td>
                <td>{d.tags.join(', ') || '—'}</td>
                <td>{d.bootstrapped ? 'bootstrapped' : '—'}</td>
                <td>
                  {Object.entries(d.installed)
                    .map(([n, v]) => `${n} ${v}`)
                    .join(', ') || '—'}
                </td>
                <td title={fmtTime(d.lastContactAt)}>{fmtAgo(d.lastContactAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && list.data.devices.length === 0 ? <p class="muted">No devices match.</p> : null}
        <Pager pager={pager} nextCursor={list.data?.nextCursor} label="Devices" />
      </Section>
    </>
  );
}

function EditDevice({ device, onSaved }: { device: DeviceDetail; onSaved: () => void }) {
  const [msisdn, setMsisdn] = useState(device.msisdn ?? '');
  const [tags, setTags] = useState(device.tags.join(', '));
  const [platform, setPlatform] = useState(device.platform);
  const [bootstrapped, setBootstrapped] = useState(device.bootstrapped);
  const [error, setError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    try {
      await api('PATCH', `/api/v1/devices/${device.id}`, {
        msisdn: msisdn.trim() ? msisdn.trim() : null,
        tags: tags
          .split(/[,\s]+/)
          .map((t) => t.trim())
          .filter(Boolean),
        platform,
        bootstrapped,
      });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="grid-form" onSubmit={save} aria-label="Edit device">
      <label for="dev-msisdn">MSISDN</label>
      <input id="dev-msisdn" value={msisdn} onInput={(e) => setMsisdn((e.target as HTMLInputElement).value)} />
      <label for="dev-tags">Tags (comma separated)</label>
      <input id="dev-tags" value={tags} onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
      <label for="dev-platform">Platform</label>
      <select id="dev-platform" value={platform} onChange={(e) => setPlatform((e.target as HTMLSelectElement).value)}>
        {PLATFORMS.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </select>
      <label class="check span">
        <input type="checkbox" checked={bootstrapped} onChange={(e) => setBootstrapped((e.target as HTMLInputElement).checked)} />{' '}
        OMA DM bootstrapped
      </label>
      <div class="span row">
        <button type="submit" class="primary">
          Save
        </button>
        {saved ? (
          <span class="ok" role="status">
            Saved.
          </span>
        ) : null}
      </div>
      <div class="span">
        <ErrorBox error={error} />
      </div>
    </form>
  );
}

export function DevicePage({ id }: { id: string }) {
  const can = useCan();
  const d = useData(() => api<DeviceDetail>('GET', `/api/v1/devices/${encodeURIComponent(id)}`), [id], 5_000);
  const [token, setToken] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const rotate = async () => {
    if (!window.confirm('Issue a new device token? The current one stops working at once.')) return;
    try {
      setToken((await api<{ token: string }>('POST', `/api/v1/devices/${id}/token`)).token);
    } catch (err) {
      setError(err);
    }
  };
  const retire = async () => {
    if (!window.confirm('Retire this device? Its token stops working and its running jobs are cancelled.')) return;
    try {
      await api('DELETE', `/api/v1/devices/${id}`);
      void d.reload();
    } catch (err) {
      setError(err);
    }
  };
  const dev = d.data;
  return (
    <>
      <p>
        <a href="#/devices">← Devices</a>
      </p>
      <h1>Device {dev?.externalId ?? id}</h1>
      <ErrorBox error={d.error ?? error} />
      {dev ? (
        <>
          <Section
            title="Device"
            actions={
              can('admin') && !dev.retiredAt ? (
                <>
                  <button type="button" onClick={rotate}>
                    Rotate token
                  </button>
                  <button type="button" class="danger" onClick={retire}>
                    Retire
                  </button>
                </>
              ) : null
            }
          >
            <dl class="facts">
              <dt>Id</dt>
              <dd>
                <code>{dev.id}</code>
              </dd>
              <dt>Platform</dt>
              <dd>{dev.platform}</dd>
              <dt>MSISDN</dt>
              <dd>{dev.msisdn ?? '—'}</dd>
              <dt>Tags</dt>
              <dd>{dev.tags.join(', ') || '—'}</dd>
              <dt>OMA DM</dt>
              <dd>{dev.bootstrapped ? 'bootstrapped' : 'not bootstrapped'}</dd>
              <dt>Last contact</dt>
              <dd>
                {fmtAgo(dev.lastContactAt)} ({fmtTime(dev.lastContactAt)})
              </dd>
              <dt>Last sync</dt>
              <dd>{fmtTime(dev.lastSyncAt)}</dd>
              <dt>Installed</dt>
              <dd>
                {Object.entries(dev.installed)
                  .map(([n, v]) => `${n} ${v}`)
                  .join(', ') || '—'}
              </dd>
              {dev.retiredAt ? (
                <>
                  <dt>Retired</dt>
                  <dd>{fmtTime(dev.retiredAt)}</dd>
                </>
              ) : null}
            </dl>
            {token ? (
              <p class="ok" role="status">
                New device token (shown once): <code>{token}</code>
              </p>
            ) : null}
          </Section>
          {can('admin') && !dev.retiredAt ? (
            <Section title="Edit">
              <EditDevice device={dev} onSaved={() => void d.reload()} />
            </Section>
          ) : null}
          <Section title="Jobs">
            <table class="dense" aria-label="Jobs of this device">
              <thead>
                <tr>
                  <th scope="col">Software</th>
                  <th scope="col">Status</th>
                  <th scope="col">Method</th>
                  <th scope="col">Started</th>
                  <th scope="col">Ended</th>
                  <th scope="col">Rollout</th>
                  <th scope="col">Log</th>
                </tr>
              </thead>
              <tbody>
                {dev.jobs.map((j) => (
                  <Fragment key={j.id}>
                    <tr>
                      <td>
                        {j.software.name} {j.software.version}
                      </td>
                      <td>
                        <StatusBadge status={j.status} />
                      </td>
                      <td>{j.method ?? '—'}</td>
                      <td>{fmtTime(j.startedAt)}</td>
                      <td>{fmtTime(j.endedAt)}</td>
                      <td>
                        <a href={`#/rollouts/${j.rolloutId}`}>{j.rolloutState}</a>
                      </td>
                      <td>
                        <button
                          type="button"
                          aria-expanded={open === j.id}
                          onClick={() => setOpen(open === j.id ? undefined : j.id)}
                        >
                          {open === j.id ? 'Hide' : 'Show'} log
                        </button>
                      </td>
                    </tr>
                    {open === j.id ? (
                      <tr>
                        <td colSpan={7}>
                          <ol class="log">
                            {j.log.map((l, i) => (
                              <li key={i}>
                                <time>{fmtTime(l.at)}</time> <strong>{l.event}</strong>{' '}
                                {l.from || l.to ? `${l.from ?? '—'} → ${l.to ?? '—'}` : ''} {l.message}
                              </li>
                            ))}
                          </ol>
                        </td>
                      </tr>
                    ) : null}
                  </Fragment>
                ))}
              </tbody>
            </table>
            {dev.jobs.length === 0 ? <p class="muted">No jobs.</p> : null}
          </Section>
          <Section title="History">
            {dev.history.length === 0 ? <p class="muted">No changes recorded.</p> : null}
            <ol class="log">
              {dev.history.map((h, i) => (
                <li key={i}>
                  <time>{fmtTime(h.at)}</time> <strong>{h.event}</strong> {JSON.stringify(h.changes)}{' '}
                  {h.keyName ? `by ${h.keyName}` : ''}
                </li>
              ))}
            </ol>
          </Section>
        </>
      ) : null}
      {!dev && !d.error ? <p class="muted">Loading…</p> : null}
    </>
  );
}
