/** Rollouts: the list with state, progress and counts, filtered by state; or open one by id. */
import { useState } from 'preact/hooks';
import { api, qs, type Rollout } from '../api';
import { fmtTime } from '../format';
import { navigate, useCan } from '../session';
import { ErrorBox, Pager, Progress, Section, StateBadge, useData, usePager } from '../ui';

const ROLLOUT_STATES = ['scheduled', 'running', 'paused', 'completed', 'cancelled'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function OpenById() {
  const [id, setId] = useState('');
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        if (UUID.test(id.trim())) navigate(`#/rollouts/${id.trim()}`);
      }}
    >
      <label>
        Rollout id
        <input value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} placeholder="uuid" size={38} />
      </label>
      <button type="submit" disabled={!UUID.test(id.trim())}>
        Open
      </button>
    </form>
  );
}

export function RolloutsPage({ query }: { query: URLSearchParams }) {
  const can = useCan();
  const state = query.get('state') ?? '';
  const pager = usePager();
  const list = useData(
    () =>
      api<{ rollouts: Rollout[]; nextCursor: string | null }>(
        'GET',
        `/api/v1/rollouts${qs({ state, limit: 50, cursor: pager.cursor })}`,
      ),
    [state, pager.cursor],
    3_000,
  );
  const missing = list.error && (list.error as { status?: number }).status === 404;
  return (
    <>
      <div class="page-head">
        <h1>Rollouts</h1>
        {can('operator') ? (
          <a class="button primary" href="#/rollouts/new">
            New rollout
          </a>
        ) : null}
      </div>
      <Section title="Find">
        <div class="row">
          <label>
            State
            <select
              value={state}
              onChange={(e) => {
                pager.reset();
                const v = (e.target as HTMLSelectElement).value;
                navigate(v ? `#/rollouts?state=${v}` : '#/rollouts');
              }}
            >
              <option value="">all</option>
              {ROLLOUT_STATES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <OpenById />
        </div>
      </Section>
      <Section title="All rollouts">
        {missing ? (
          <p class="muted">This server does not list rollouts yet; open one by its id.</p>
        ) : (
          <ErrorBox error={list.error} />
        )}
        <table class="dense" aria-label="Rollouts">
          <thead>
            <tr>
              <th scope="col">Software</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">Counts</th>
              <th scope="col">Created</th>
              <th scope="col">Ended</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.rollouts ?? []).map((r) => (
              <tr key={r.id} data-rollout-id={r.id}>
                <td>
                  <a href={`#/rollouts/${r.id}`}>{r.software ? `${r.software.name} ${r.software.version}` : r.id.slice(0, 8)}</a>
                </td>
                <td>
                  <StateBadge state={r.state} />
                  {r.pausedReason ? <span class="muted"> ({r.pausedReason})</span> : null}
                </td>
                <td>
                  <Progress counts={r.counts ?? {}} total={r.total} label={`Progress of rollout ${r.id}`} />
                </td>
                <td class="counts">
                  {Object.entries(r.counts ?? {})
                    .map(([s, n]) => `${s}: ${n}`)
                    .join(' · ') || '—'}
                </td>
                <td>{fmtTime(r.createdAt)}</td>
                <td>
                  {fmtTime(r.completedAt)}
                  {r.retryOf ? (
                    <>
                      {' '}
                      · retry of <a href={`#/rollouts/${r.retryOf}`}>{r.retryOf.slice(0, 8)}</a>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && list.data.rollouts.length === 0 ? <p class="muted">No rollouts{state ? ` ${state}` : ''}.</p> : null}
        <Pager pager={pager} nextCursor={list.data?.nextCursor} label="Rollouts" />
      </Section>
    </>
  );
}
