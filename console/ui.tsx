/** Small shared pieces of the console: hooks, charts, progress, status badges, errors. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { FAILURE_STATUSES, FINAL_STATUSES, type InstallStatus, SUCCESS_STATUSES } from '../domain/status';
import { ApiError } from './api';

/**
 * Loads `load()` now, on `deps` changes, and every `everyMs` while the page is open (live views).
 * The shown data stays until the new arrives (no flicker on a refresh, a filter or a page change);
 * it is dropped at once when `deps[0]` — what the view is about, e.g. the rollout id — changes.
 */
export function useData<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const subject = useRef<unknown>(deps[0]);
  const gen = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(async () => {
    const mine = ++gen.current;
    try {
      const v = await loadRef.current();
      if (mine === gen.current) {
        setData(v);
        setError(undefined);
      }
    } catch (err) {
      if (mine === gen.current) setError(err);
    }
  }, []);
  useEffect(() => {
    if (subject.current !== deps[0]) {
      subject.current = deps[0];
      setData(undefined);
      setError(undefined);
    }
    void reload();
    if (!everyMs) return;
    const t = setInterval(() => void reload(), everyMs);
    return () => clearInterval(t);
  }, [...deps, everyMs]);
  return { data, error, reload };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof ApiError ? `${error.message}${error.status ? ` (HTTP ${error.status})` : ''}` : String(error);
  return (
    <p class="error" role="alert">
      {msg}
    </p>
  );
}

function statusClass(status: string | null | undefined): string {
  if (!status) return 'st-planned';
  if (FAILURE_STATUSES.has(status as InstallStatus)) return 'st-failed';
  if (status === 'Cancelled') return 'st-cancelled';
  if (SUCCESS_STATUSES.has(status as InstallStatus)) return 'st-ok';
  if (FINAL_STATUSES.has(status as InstallStatus)) return 'st-cancelled';
  return 'st-active';
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  return <span class={`badge ${statusClass(status)}`}>{status ?? 'Not started'}</span>;
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

/** Final / total with the success and failure shares coloured. */
export function Progress({ counts, total, label }: { counts: Record<string, number>; total: number; label: string }) {
  let ok = 0;
  let failed = 0;
  let other = 0;
  for (const [s, n] of Object.entries(counts)) {
    if (SUCCESS_STATUSES.has(s as InstallStatus)) ok += n;
    else if (FAILURE_STATUSES.has(s as InstallStatus)) failed += n;
    else if (FINAL_STATUSES.has(s as InstallStatus)) other += n;
  }
  const done = ok + failed + other;
  const pct = (n: number) => (total > 0 ? (100 * n) / total : 0);
  return (
    <div class="progress-wrap">
      <div
        class="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={done}
        aria-valuetext={`${done} of ${total} final (${ok} succeeded, ${failed} failed)`}
      >
        <span class="bar seg-ok" style={{ width: `${pct(ok)}%` }} />
        <span class="bar seg-failed" style={{ width: `${pct(failed)}%` }} />
        <span class="bar seg-other" style={{ width: `${pct(other)}%` }} />
      </div>
      <span class="progress-text">
        {done}/{total}
      </span>
    </div>
  );
}

export interface Bar {
  label: string;
  value: number;
  /** Shown under the bar (defaults to the label). */
  short?: string;
}

/** A bar chart (SVG, no library); `name` is its accessible name; each bar carries data-label/data-value. */
export function BarChart({ bars, name, testId, height = 140 }: { bars: Bar[]; name: string; testId?: string; height?: number }) {
  if (bars.length === 0) return <p class="muted">Nothing to chart yet.</p>;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const w = Math.max(14, Math.min(48, Math.floor(880 / bars.length)));
  const width = bars.length * w + 40;
  const every = Math.ceil(bars.length / 12);
  return (
    <figure class="chart" data-testid={testId}>
      <svg role="img" aria-label={name} width={width} height={height + 34} viewBox={`0 0 ${width} ${height + 34}`}>
        <title>{name}</title>
        <text x={0} y={10} class="axis">
          {max}
        </text>
        <line x1={34} x2={width} y1={height + 4} y2={height + 4} class="axis-line" />
        {bars.map((b, i) => {
          const h = Math.round((b.value / max) * (height - 10));
          const x = 36 + i * w;
          return (
            <g key={b.label} data-label={b.label} data-value={b.value} class="chart-bar">
              <rect x={x} y={height + 4 - h} width={w - 3} height={h} class="bar-rect">
                <title>{`${b.label}: ${b.value}`}</title>
              </rect>
              {i % every === 0 ? (
                <text x={x} y={height + 18} class="axis">
                  {b.short ?? b.label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{name}</figcaption>
    </figure>
  );
}

/** Previous / next over a keyset-paged list: a stack of the cursors that opened each page. */
export function usePager() {
  const [stack, setStack] = useState<(string | null)[]>([null]);
  const cursor = stack[stack.length - 1] ?? null;
  return {
    cursor,
    page: stack.length,
    next: (c: string | null) => c && setStack((s) => [...s, c]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([null]),
  };
}

export function Pager({
  pager,
  nextCursor,
  label,
}: {
  pager: ReturnType<typeof usePager>;
  nextCursor: string | null | undefined;
  label: string;
}) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" disabled={pager.page <= 1} onClick={pager.prev}>
        ← Previous
      </button>
      <span>Page {pager.page}</span>
      <button type="button" disabled={!nextCursor} onClick={() => pager.next(nextCursor ?? null)}>
        Next →
      </button>
    </nav>
  );
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="card" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

/** A modal dialog (the native <dialog>: focus trap and Escape for free). */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const close = () => onClose();
    d?.addEventListener('close', close);
    return () => d?.removeEventListener('close', close);
  }, [onClose]);
  return (
    <dialog ref={ref} class="dialog" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        <button type="button" onClick={() => ref.current?.close()}>
          Close
        </button>
      </header>
      {children}
    </dialog>
  );
}
