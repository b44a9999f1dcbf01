/** Software: upload (with a progress bar) and the list with platforms, size and SHA-256. */
import { useState } from 'preact/hooks';
import { PLATFORMS } from '../../domain/install-options';
import { api, qs, type Software, upload } from '../api';
import { fmtBytes } from '../format';
import { useCan } from '../session';
import { ErrorBox, Pager, Section, useData, usePager } from '../ui';

function UploadForm({ onUploaded }: { onUploaded: (s: Software) => void }) {
  const [name, setName] = useState('');
  const [version, setVersion] = useState('');
  const [kind, setKind] = useState<'dme-client' | 'other'>('dme-client');
  const [platforms, setPlatforms] = useState<string[]>([]);
  const [inHouseIos, setInHouseIos] = useState(false);
  const [bundleId, setBundleId] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<{ sent: number; total: number } | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<Software | undefined>(undefined);
  const toggle = (p: string) => setPlatforms((ps) => (ps.includes(p) ? ps.filter((x) => x !== p) : [...ps, p]));
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    const form = new FormData();
    form.append('name', name.trim());
    form.append('version', version.trim());
    form.append('kind', kind);
    form.append('platforms', platforms.join(','));
    if (inHouseIos) form.append('inHouseIos', 'true');
    if (bundleId.trim()) form.append('bundleId', bundleId.trim());
    for (const f of files) form.append('file', f, f.name);
    setProgress({ sent: 0, total: files.reduce((n, f) => n + f.size, 0) || 1 });
    try {
      const s = await upload<Software>('/api/v1/software', form, (sent, total) => setProgress({ sent, total }));
      setDone(s);
      onUploaded(s);
    } catch (err) {
      setError(err);
      setProgress(undefined);
    }
  };
  const pct = progress ? Math.round((100 * progress.sent) / progress.total) : 0;
  return (
    <form onSubmit={submit} class="grid-form" aria-label="Upload software">
      <label for="sw-name">Name</label>
      <input id="sw-name" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <label for="sw-version">Version</label>
      <input id="sw-version" required value={version} onInput={(e) => setVersion((e.target as HTMLInputElement).value)} />
      <label for="sw-kind">Kind</label>
      <select
        id="sw-kind"
        value={kind}
        onChange={(e) => setKind((e.target as HTMLSelectElement).value as 'dme-client' | 'other')}
      >
        <option value="dme-client">DME client (verified by the version the device reports)</option>
        <option value="other">Other software (not verifiable)</option>
      </select>
      <fieldset class="span">
        <legend>Platforms</legend>
        {PLATFORMS.map((p) => (
          <label key={p} class="check">
            <input type="checkbox" checked={platforms.includes(p)} onChange={() => toggle(p)} /> {p}
          </label>
        ))}
      </fieldset>
      <label class="check span">
        <input type="checkbox" checked={inHouseIos} onChange={(e) => setInHouseIos((e.target as HTMLInputElement).checked)} />{' '}
        In-house iOS app (always installed by SMS push with a manifest link)
      </label>
      {inHouseIos ? (
        <>
          <label for="sw-bundle">Bundle id</label>
          <input id="sw-bundle" value={bundleId} onInput={(e) => setBundleId((e.target as HTMLInputElement).value)} />
        </>
      ) : null}
      <label for="sw-file">Files (one per variant, e.g. .cab and .exe)</label>
      <input
        id="sw-file"
        type="file"
        multiple
        required
        onChange={(e) => setFiles(Array.from((e.target as HTMLInputElement).files ?? []))}
      />
      <div class="span row">
        <button type="submit" class="primary" disabled={!!progress && !done && !error}>
          Upload
        </button>
        {progress ? (
          <div class="progress-wrap">
            <div
              class="progress"
              role="progressbar"
              aria-label="Upload progress"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct}
            >
              <span class="bar seg-ok" style={{ width: `${pct}%` }} />
            </div>
            <span class="progress-text">
              {pct}% · {fmtBytes(progress.sent)} of {fmtBytes(progress.total)}
            </span>
          </div>
        ) : null}
      </div>
      {done ? (
        <p class="ok span" role="status">
          Uploaded {done.name} {done.version} — SHA-256 <code>{done.sha256}</code>
        </p>
      ) : null}
      <div class="span">
        <ErrorBox error={error} />
      </div>
    </form>
  );
}

export function SoftwarePage() {
  const can = useCan();
  const pager = usePager();
  const [bump, setBump] = useState(0);
  const list = useData(
    () =>
      api<{ software: Software[]; nextCursor: string | null }>(
        'GET',
        `/api/v1/software${qs({ limit: 50, cursor: pager.cursor })}`,
      ),
    [pager.cursor, bump],
  );
  return (
    <>
      <h1>Software</h1>
      {can('admin') ? (
        <Section title="Upload software">
          <UploadForm onUploaded={() => setBump((n) => n + 1)} />
        </Section>
      ) : null}
      <Section title="Registered software">
        <ErrorBox error={list.error} />
        <table class="dense" aria-label="Software">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Kind</th>
              <th scope="col">Platforms</th>
              <th scope="col">Files</th>
              <th scope="col">Size</th>
              <th scope="col">SHA-256</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.software ?? []).map((s) => (
              <tr key={s.id} data-software-id={s.id}>
                <td>{s.name}</td>
                <td>{s.version}</td>
                <td>
                  {s.kind}
                  {s.inHouseIos ? ' · in-house iOS' : ''}
                </td>
                <td>{s.platforms.join(', ')}</td>
                <td>{s.files.map((f) => f.fileName).join(', ')}</td>
                <td class="num">{s.files.map((f) => fmtBytes(f.size)).join(', ')}</td>
                <td>
                  {s.files.map((f) => (
                    <code key={f.id} class="hash" title={f.sha256}>
                      {f.sha256}
                    </code>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && list.data.software.length === 0 ? <p class="muted">No software yet.</p> : null}
        <Pager pager={pager} nextCursor={list.data?.nextCursor} label="Software" />
      </Section>
    </>
  );
}
