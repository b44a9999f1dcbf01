/**
 * The DeviceRollout admin console (issue 16, SPEC U1): sign-in with an admin key, then the pages
 * Rollouts, New rollout (DME's Installation window), Rollout, Installation status (the Installing /
 * Installed tables, V3), Devices and Software. Hash routes (#/rollouts/…) so that the API serves one
 * page at `/`. Everything goes through the public admin API (console/api.ts).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, covers, forgetKey, type Me, type Role, storedKey, storeKey } from './api';
import { DevicePage, DevicesPage } from './pages/devices';
import { NewRolloutPage } from './pages/new-rollout';
import { RolloutPage } from './pages/rollout';
import { RolloutsPage } from './pages/rollouts';
import { SoftwarePage } from './pages/software';
import { StatusPage } from './pages/status';
import { MeContext, useCan } from './session';

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash || '#/rollouts');
  useEffect(() => {
    const on = () => setHash(window.location.hash || '#/rollouts');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** "#/status?rollout=…" → ["status"], { rollout }. */
function parseHash(hash: string): { parts: string[]; query: URLSearchParams } {
  const [path = '', q = ''] = hash.replace(/^#\/?/, '').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q) };
}

function SignIn({ onSignedIn, notice }: { onSignedIn: (me: Me) => void; notice?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await api<Me>('GET', '/api/v1/me', undefined, key.trim());
      storeKey(key.trim());
      setKey('');
      onSignedIn(me);
    } catch (err) {
      setError(
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? `This key was refused: ${err.message}.`
          : `Could not sign in: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">DeviceRollout console</h1>
        <p class="muted">Sign in with an admin key. It is kept in this tab only (sessionStorage) and sent only to this server.</p>
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          name="admin-key"
          type="password"
          autocomplete="off"
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || !key.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV: { hash: string; label: string; need?: Role; match: (p: string[]) => boolean }[] = [
  { hash: '#/rollouts', label: 'Rollouts', match: (p) => p[0] === 'rollouts' && p[1] !== 'new' },
  { hash: '#/rollouts/new', label: 'New rollout', need: 'operator', match: (p) => p[0] === 'rollouts' && p[1] === 'new' },
  { hash: '#/status', label: 'Installation status', match: (p) => p[0] === 'status' },
  { hash: '#/devices', label: 'Devices', match: (p) => p[0] === 'devices' },
  { hash: '#/software', label: 'Software', match: (p) => p[0] === 'software' },
];

function Page({ parts, query }: { parts: string[]; query: URLSearchParams }) {
  const can = useCan();
  const [a, b] = parts;
  if (a === 'rollouts' && b === 'new') return can('operator') ? <NewRolloutPage /> : <p>Your role may not start rollouts.</p>;
  if (a === 'rollouts' && b) return <RolloutPage id={b} />;
  if (a === 'status') return <StatusPage query={query} />;
  if (a === 'devices' && b) return <DevicePage id={b} />;
  if (a === 'devices') return <DevicesPage />;
  if (a === 'software') return <SoftwarePage />;
  return <RolloutsPage query={query} />;
}

function App() {
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [checking, setChecking] = useState(!!storedKey());
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const hash = useHash();
  useEffect(() => {
    if (!storedKey()) return;
    api<Me>('GET', '/api/v1/me')
      .then(setMe)
      .catch((err) => {
        forgetKey();
        setNotice(err instanceof ApiError ? `Signed out: ${err.message}.` : undefined);
      })
      .finally(() => setChecking(false));
  }, []);
  useEffect(() => {
    // a key revoked or expired while signed in: back to the sign-in form
    const onRefused = () => {
      forgetKey();
      setMe(undefined);
      setNotice('Signed out: the server refused the key.');
    };
    window.addEventListener('admin-key-refused', onRefused);
    return () => window.removeEventListener('admin-key-refused', onRefused);
  }, []);
  if (checking) return <p class="muted">Signing in…</p>;
  if (!me) return <SignIn onSignedIn={setMe} notice={notice} />;
  const { parts, query } = parseHash(hash);
  const signOut = () => {
    forgetKey();
    setMe(undefined);
    setNotice(undefined);
  };
  return (
    <MeContext.Provider value={me}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">DeviceRollout</span>
        <nav aria-label="Pages">
          {NAV.filter((n) => !n.need || covers(me.role, n.need)).map((n) => (
            <a key={n.hash} href={n.hash} aria-current={n.match(parts.length ? parts : ['rollouts']) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span class="who">
          {me.name} <span class="badge role">{me.role}</span>
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page parts={parts} query={query} />
      </main>
    </MeContext.Provider>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
