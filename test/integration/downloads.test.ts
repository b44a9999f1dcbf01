/**
 * Ticket links `/d/:ticket` against the real stack: an interrupted download resumed with a Range
 * (bytes and SHA-256 equal the upload), `downloaded` signalled exactly once however often and however
 * concurrently the file is fetched — and also when the device's download-end report comes first —
 * Range edge cases (206 / 416 / ignored), headers, HEAD, 404/410, the iOS manifest. Signals go
 * through the signal outbox (the stack's dispatchers) and are observed in the history of a recorder
 * workflow holding the job's install workflow id on a task queue no worker polls.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { WorkflowHandle } from '@temporalio/client';
import express from 'express';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DownloadEvent, downloadRoutes, parseRange } from '../../api/device/downloads';
import { errorHandler } from '../../api/http/errors';
import { STATUS } from '../../domain/status';
import { outboxBacklog } from '../../services/signal-outbox';
import { type Signaller, temporalSignaller } from '../../services/signals';
import { installWorkflowId } from '../../workflows/messages';
import { recordedSignals, startSignalRecorder } from '../helpers/signal-recorder';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let stack: Stack;
let n = 0;
const recorders: WorkflowHandle[] = [];

/** The same download routes with an observer: lets the test wait until the server has finished a response. */
let observedUrl: string;
let server: Server;
const events: DownloadEvent[] = [];
const waiters: { pred: (e: DownloadEvent) => boolean; resolve: (e: DownloadEvent) => void }[] = [];
function served(pred: (e: DownloadEvent) => boolean): Promise<DownloadEvent> {
  const seen = events.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

/** Signals through Temporal unless a test makes the next ones fail (Temporal unreachable). */
let failNextSignals = 0;

/** Every queued signal delivered by the stack's dispatchers. */
const signalsDelivered = () =>
  until('the signal outbox delivered', async () => ((await outboxBacklog(stack.db)).pending === 0 ? true : undefined));

beforeAll(async () => {
  stack = await startStack({
    noWorker: true,
    // the outbox dispatchers signal through Temporal unless a test makes the next ones fail
    signaller: (client): Signaller => {
      const temporal = temporalSignaller(client);
      return {
        signal: (workflowId, def, ...args) => {
          if (failNextSignals > 0) {
            failNextSignals--;
            return Promise.reject(new Error('Temporal unreachable (test)'));
          }
          return temporal.signal(workflowId, def, ...args);
        },
      };
    },
  });
  const app = express();
  app.use(
    '/d',
    // without the stack's nudge: its dispatchers find the queued signals at their next poll
    downloadRoutes(
      { db: stack.db, temporal: stack.client, config: stack.config, log: () => {} },
      {
        onServed: (e) => {
          events.push(e);
          for (const w of waiters.splice(0)) {
            if (w.pred(e)) w.resolve(e);
            else waiters.push(w);
          }
        },
      },
    ),
  );
  app.use(errorHandler(() => {}));
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  observedUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await Promise.all(recorders.map((h) => h.terminate('test over').catch(() => undefined)));
  await new Promise((resolve) => server?.close(resolve));
  await stack?.stop();
});

async function uploadSoftware(files: { name: string; data: Uint8Array }[], extra: Record<string, string> = {}) {
  const form = new FormData();
  form.append('name', extra.name ?? `App ${Date.now()}-${++n}`);
  form.append('version', extra.version ?? '3.0');
  form.append('kind', 'other');
  form.append('platforms', extra.platforms ?? 'windows-mobile-pocketpc');
  for (const [k, v] of Object.entries(extra)) if (!['name', 'version', 'platforms'].includes(k)) form.append(k, v);
  for (const f of files) form.append('file', new Blob([f.data]), f.name);
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as {
    id: string;
    name: string;
    version: string;
    sha256: string;
    files: { id: string; sha256: string }[];
  };
}

/** A device, a rollout, a job waiting for its download, and its ticket(s). */
async function seedTicket(
  softwareId: string,
  fileId: string,
  t: { expiresIn?: number; revoked?: boolean; attempt?: number | null } = {},
): Promise<{ ticket: string; jobId: string; rolloutId: string; deviceId: string; token: string }> {
  const reg = await stack.api('POST', '/api/v1/devices', {
    devices: [{ externalId: `dl-${Date.now()}-${++n}`, platform: 'windows-mobile-pocketpc' }],
  });
  const { id: deviceId, token } = reg.body.devices[0];
  const [rollout] = await stack
    .db('rollouts')
    .insert({ software_id: softwareId, options: {}, schedule: {}, state: 'running' })
    .returning('id');
  const [job] = await stack
    .db('installations')
    .insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0, status: STATUS.waitingForDownload, method: 'sms' })
    .returning('id');
  const ticket = randomBytes(32).toString('base64url');
  await stack.db('push_tickets').insert({
    ticket,
    installation_id: job.id,
    file_id: fileId,
    attempt: t.attempt === undefined ? 1 : t.attempt,
    expires_at: stack.db.raw('now() + make_interval(secs => ?)', [t.expiresIn ?? 3600]),
    revoked_at: t.revoked ? stack.db.fn.now() : null,
  });
  return { ticket, jobId: job.id, rolloutId: rollout.id, deviceId, token };
}

async function recorder(rolloutId: string, deviceId: string): Promise<WorkflowHandle> {
  const h = await startSignalRecorder(stack.client, installWorkflowId(rolloutId, deviceId));
  recorders.push(h);
  return h;
}

async function downloadedAt(ticket: string): Promise<Date | null> {
  return (await stack.db('push_tickets').where({ ticket }).first()).downloaded_at;
}

/** The outbox rows of the job's `downloaded` signals. */
function downloadedRows(jobId: string): Promise<{ attempts: number; last_error: string | null; delivered_at: Date | null }[]> {
  return stack
    .db('signal_outbox')
    .where('dedupe_key', 'like', `downloaded:${jobId}:%`)
    .select('attempts', 'last_error', 'delivered_at');
}

describe('a ticket link fetched is a contact of its device', () => {
  it('a device that downloads by its SMS link, without another request, is not "not heard from" (P1)', async () => {
    const sw = await uploadSoftware([{ name: 'Small.cab', data: randomBytes(2048) }]);
    const { ticket, jobId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id);
    // last heard of ten minutes ago; its job started a minute ago
    await stack
      .db('devices')
      .where({ id: deviceId })
      .update({ last_contact_at: stack.db.raw("now() - interval '10 minutes'") });
    await stack
      .db('installations')
      .where({ id: jobId })
      .update({ started_at: stack.db.raw("now() - interval '1 minute'") });
    // two statements: the ticket with its device's contact recorded, then the completed download
    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql);
    stack.db.on('query', onQuery);
    try {
      const res = await fetch(`${observedUrl}/d/${ticket}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      await served((e) => e.ticket === ticket && e.finished);
    } finally {
      stack.db.off('query', onQuery);
    }
    expect(statements).toHaveLength(2);
    expect(statements[0]).toMatch(/WHERE t\.ticket = \$1[\s\S]*UPDATE devices SET last_contact_at/);
    expect(statements[1]).toContain('downloaded_at = now()');
    const row = await stack
      .db('installations as i')
      .join('devices as d', 'd.id', 'i.device_id')
      .where('i.id', jobId)
      .first('i.started_at', 'd.last_contact_at');
    expect(row.last_contact_at.getTime()).toBeGreaterThan(row.started_at.getTime());
    // an unknown or expired link is no contact of anyone
    const before = row.last_contact_at.getTime();
    const expired = await seedTicket(sw.id, sw.files[0]!.id, { expiresIn: -60 });
    await stack.db('devices').where({ id: expired.deviceId }).update({ last_contact_at: null });
    expect((await fetch(`${observedUrl}/d/${expired.ticket}`)).status).toBe(410);
    expect((await stack.db('devices').where({ id: expired.deviceId }).first()).last_contact_at).toBeNull();
    expect((await stack.db('devices').where({ id: deviceId }).first()).last_contact_at.getTime()).toBe(before);
  });
});

describe('an interrupted download resumes with Range and is signalled exactly once', () => {
  const big = randomBytes(64 * 1024 * 1024);
  let sw: Awaited<ReturnType<typeof uploadSoftware>>;

  beforeAll(async () => {
    sw = await uploadSoftware([{ name: 'Big.cab', data: big }]);
  });

  it('abort mid-body → nothing recorded; resume from the byte → 206, bytes and SHA-256 equal the upload; one signal', async () => {
    const { ticket, rolloutId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id);
    const h = await recorder(rolloutId, deviceId);
    const url = `${observedUrl}/d/${ticket}`;

    // 1. the connection breaks after a few MB
    const abort = new AbortController();
    const first = await fetch(url, { signal: abort.signal });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-length')).toBe(String(big.length));
    const etag = first.headers.get('etag')!;
    const reader = first.body!.getReader();
    const chunks: Uint8Array[] = [];
    let got = 0;
    while (got < 3 * 1024 * 1024) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);
    const broken = await served((e) => e.ticket === ticket);
    expect(broken).toMatchObject({ status: 200, finished: false, firstCompletion: false, signalled: false });
    expect(await downloadedAt(ticket)).toBeNull();
    await signalsDelivered();
    expect(await recordedSignals(h)).toEqual([]);

    // 2. the device resumes from the interrupted byte
    const resumed = await fetch(url, { headers: { range: `bytes=${got}-`, 'if-range': etag } });
    expect(resumed.status).toBe(206);
    expect(resumed.headers.get('content-range')).toBe(`bytes ${got}-${big.length - 1}/${big.length}`);
    expect(resumed.headers.get('content-length')).toBe(String(big.length - got));
    const rest = new Uint8Array(await resumed.arrayBuffer());
    const whole = Buffer.concat([...chunks, rest]);
    expect(whole.length).toBe(big.length);
    expect(whole.equals(big)).toBe(true);
    expect(sha256(whole)).toBe(resumed.headers.get('x-checksum-sha256'));
    expect(`"${sha256(whole)}"`).toBe(resumed.headers.get('etag'));
    const done = await served((e) => e.ticket === ticket && e.finished);
    expect(done).toMatchObject({ status: 206, start: got, end: big.length - 1, firstCompletion: true, signalled: true });
    const marked = await downloadedAt(ticket);
    expect(marked).toBeInstanceOf(Date);
    await signalsDelivered();
    const sig = await recordedSignals(h);
    expect(sig).toEqual([{ name: 'downloaded', arg: { ticket, source: 'download', at: marked!.toISOString() } }]);

    // 3. fetched again in full: served, but neither marked again nor signalled again
    const again = await fetch(url);
    expect(again.status).toBe(200);
    expect(sha256(new Uint8Array(await again.arrayBuffer()))).toBe(sw.sha256);
    const third = await served((e) => e.ticket === ticket && e.status === 200 && e.finished);
    expect(third.firstCompletion).toBe(false);
    expect((await downloadedAt(ticket))!.getTime()).toBe(marked!.getTime());
    await signalsDelivered();
    expect(await recordedSignals(h)).toHaveLength(1);
  });
});

describe('completion is counted once under concurrency and only when the last byte is served', () => {
  const data = randomBytes(300_000);
  let sw: Awaited<ReturnType<typeof uploadSoftware>>;
  beforeAll(async () => {
    sw = await uploadSoftware([{ name: 'c.cab', data }]);
  });

  it('six parallel full downloads → one firstCompletion, one signal', async () => {
    const { ticket, rolloutId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id);
    const h = await recorder(rolloutId, deviceId);
    const bodies = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${observedUrl}/d/${ticket}`).then((r) => r.arrayBuffer())),
    );
    for (const b of bodies) expect(sha256(new Uint8Array(b))).toBe(sw.sha256);
    await served((e) => e.ticket === ticket && events.filter((x) => x.ticket === ticket).length >= 6);
    const mine = events.filter((e) => e.ticket === ticket);
    expect(mine.filter((e) => e.finished)).toHaveLength(6);
    expect(mine.filter((e) => e.firstCompletion)).toHaveLength(1);
    await signalsDelivered();
    expect((await recordedSignals(h)).filter((s) => s.name === 'downloaded')).toHaveLength(1);
  });

  it('a range that ends before the last byte is not a completed download; the one serving the last byte is', async () => {
    const { ticket, rolloutId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id);
    const h = await recorder(rolloutId, deviceId);
    const head = await fetch(`${observedUrl}/d/${ticket}`, { headers: { range: 'bytes=0-99999' } });
    expect(head.status).toBe(206);
    await head.arrayBuffer();
    expect(await served((e) => e.ticket === ticket)).toMatchObject({ finished: true, firstCompletion: false });
    expect(await downloadedAt(ticket)).toBeNull();
    const tail = await fetch(`${observedUrl}/d/${ticket}`, { headers: { range: 'bytes=100000-' } });
    await tail.arrayBuffer();
    expect(await served((e) => e.ticket === ticket && e.start === 100000)).toMatchObject({
      firstCompletion: true,
      signalled: true,
    });
    await signalsDelivered();
    expect(await recordedSignals(h)).toHaveLength(1);
  });

  it('the DM package link (attempt 0) is marked downloaded but does not signal the push path', async () => {
    const { ticket, jobId, rolloutId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id, { attempt: 0 });
    const h = await recorder(rolloutId, deviceId);
    await (await fetch(`${observedUrl}/d/${ticket}`)).arrayBuffer();
    expect(await served((e) => e.ticket === ticket)).toMatchObject({ finished: true, firstCompletion: true, signalled: false });
    expect(await downloadedAt(ticket)).toBeInstanceOf(Date);
    expect(await downloadedRows(jobId)).toEqual([]);
    await signalsDelivered();
    expect(await recordedSignals(h)).toEqual([]);
  });

  it('a completion while Temporal is unreachable is kept: delivered once it is back, once', async () => {
    const { ticket, jobId, rolloutId, deviceId } = await seedTicket(sw.id, sw.files[0]!.id);
    const h = await recorder(rolloutId, deviceId);
    failNextSignals = 1;
    await (await fetch(`${observedUrl}/d/${ticket}`)).arrayBuffer();
    expect(await served((e) => e.ticket === ticket)).toMatchObject({ finished: true, firstCompletion: true, signalled: true });
    expect(await downloadedAt(ticket)).toBeInstanceOf(Date);
    // the dispatcher's first attempt fails: the row stays, with the error, and is retried
    const [failed] = await until('the failed delivery recorded', async () => {
      const rows = await downloadedRows(jobId);
      return rows[0]?.attempts === 1 ? rows : undefined;
    });
    expect(failed?.last_error).toContain('Temporal unreachable (test)');
    await signalsDelivered();
    expect(await recordedSignals(h)).toEqual([
      { name: 'downloaded', arg: expect.objectContaining({ ticket, source: 'download' }) },
    ]);
    expect(await downloadedRows(jobId)).toEqual([expect.objectContaining({ attempts: 1, delivered_at: expect.any(Date) })]);

    // fetched again: nothing new
    await (await fetch(`${observedUrl}/d/${ticket}`)).arrayBuffer();
    expect(await served((e) => e.ticket === ticket && !e.firstCompletion && e.finished)).toMatchObject({ signalled: false });
    await signalsDelivered();
    expect(await recordedSignals(h)).toHaveLength(1);
  });

  it('ONE downloaded per push link: the device download-end report and the completed download, whichever comes first', async () => {
    const report = (t: { jobId: string; token: string }) =>
      stack.api('POST', '/api/v1/device/reports', { jobId: t.jobId, phase: 'download-end', result: 'success' }, t.token);

    // the report first (the device says so before the server has recorded its last byte)
    const early = await seedTicket(sw.id, sw.files[0]!.id);
    const h1 = await recorder(early.rolloutId, early.deviceId);
    expect((await report(early)).status).toBe(202);
    await (await fetch(`${observedUrl}/d/${early.ticket}`)).arrayBuffer();
    expect(await served((e) => e.ticket === early.ticket)).toMatchObject({ finished: true, firstCompletion: true });
    await signalsDelivered();
    expect(await recordedSignals(h1, 'downloaded')).toEqual([
      { name: 'downloaded', arg: { source: 'report', at: expect.any(String) } },
    ]);

    // the completed download first
    const late = await seedTicket(sw.id, sw.files[0]!.id);
    const h2 = await recorder(late.rolloutId, late.deviceId);
    await (await fetch(`${observedUrl}/d/${late.ticket}`)).arrayBuffer();
    expect(await served((e) => e.ticket === late.ticket)).toMatchObject({ firstCompletion: true, signalled: true });
    expect((await report(late)).status).toBe(202);
    await signalsDelivered();
    expect(await recordedSignals(h2, 'downloaded')).toEqual([
      { name: 'downloaded', arg: expect.objectContaining({ ticket: late.ticket, source: 'download' }) },
    ]);
  });
});

describe('GET /d/:ticket through the API', () => {
  const data = randomBytes(1000);
  let sw: Awaited<ReturnType<typeof uploadSoftware>>;
  let ticket: string;
  beforeAll(async () => {
    sw = await uploadSoftware([{ name: 'Clïent Setup.cab', data }]);
    ({ ticket } = await seedTicket(sw.id, sw.files[0]!.id));
  });
  const get = (headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${stack.baseUrl}/d/${ticket}`, { method, headers });

  it('200 with the file, its checksums and download headers', async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('etag')).toBe(`"${sha256(data)}"`);
    expect(res.headers.get('x-checksum-sha256')).toBe(sha256(data));
    expect(res.headers.get('digest')).toBe(`sha-256=${createHash('sha256').update(data).digest('base64')}`);
    expect(res.headers.get('content-type')).toBe('application/vnd.ms-cab-compressed');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="Cl_ent Setup.cab"; filename*=UTF-8''Cl%C3%AFent%20Setup.cab`,
    );
  });

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=990-', 990, 999],
    ['bytes=-5', 995, 999],
    ['bytes=-5000', 0, 999],
    ['bytes=500-5000', 500, 999],
    ['bytes=999-999', 999, 999],
    [' bytes = 10 - 19 ', 10, 19],
  ])('Range %j → 206 bytes %d-%d', async (range, start, end) => {
    const res = await get({ range });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0'])(
    'unsatisfiable %j → 416 with Content-Range bytes */size',
    async (range) => {
      const res = await get({ range });
      expect(res.status).toBe(416);
      expect(res.headers.get('content-range')).toBe('bytes */1000');
      expect(((await res.json()) as any).error.code).toBe('range_not_satisfiable');
    },
  );

  it.each(['bytes=20-10', 'items=0-5', 'bytes=0-1,5-6', 'bytes=-', 'bytes=abc', 'bytes 0-5'])(
    'malformed or multiple ranges %j → the whole file, 200',
    async (range) => {
      const res = await get({ range });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-range')).toBeNull();
      expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    },
  );

  it('If-Range: a stale validator gets the whole file, the current one the range', async () => {
    const stale = await get({ range: 'bytes=0-9', 'if-range': '"0000"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(1000);
    const current = await get({ range: 'bytes=0-9', 'if-range': `"${sha256(data)}"` });
    expect(current.status).toBe(206);
    expect((await current.arrayBuffer()).byteLength).toBe(10);
  });

  it('HEAD: the headers without a body, and it is not a download', async () => {
    const fresh = await seedTicket(sw.id, sw.files[0]!.id);
    const res = await fetch(`${stack.baseUrl}/d/${fresh.ticket}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('x-checksum-sha256')).toBe(sha256(data));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    expect(await downloadedAt(fresh.ticket)).toBeNull();
  });

  it('404 revealing nothing for unknown and malformed tickets; 410 for expired and revoked ones', async () => {
    const bodies = new Set<string>();
    for (const t of [
      randomBytes(32).toString('base64url'),
      'short',
      'has.dots.in.it.xx',
      '%00%00%00%00%00%00%00%00',
      'x'.repeat(300),
    ]) {
      const res = await fetch(`${stack.baseUrl}/d/${t}`);
      expect(res.status, t).toBe(404);
      bodies.add(await res.text());
    }
    expect([...bodies]).toEqual([JSON.stringify({ error: { code: 'not_found', message: 'download link not found' } })]);

    const expired = await seedTicket(sw.id, sw.files[0]!.id, { expiresIn: -1 });
    const revoked = await seedTicket(sw.id, sw.files[0]!.id, { revoked: true });
    for (const t of [expired.ticket, revoked.ticket]) {
      for (const path of [`/d/${t}`, `/d/${t}/manifest.plist`]) {
        const res = await fetch(`${stack.baseUrl}${path}`, { headers: { range: 'bytes=0-1' } });
        expect(res.status, path).toBe(410);
        expect(((await res.json()) as any).error.code).toBe('gone');
      }
    }
  });

  it('500 JSON (no partial body) when the stored file is missing', async () => {
    const [file] = await stack
      .db('software_files')
      .insert({
        software_id: sw.id,
        file_name: 'gone.exe',
        format: 'exe',
        size: 10,
        sha256: 'a'.repeat(64),
        storage_path: 'software/none/gone.exe',
      })
      .returning('id');
    const { ticket: t } = await seedTicket(sw.id, file.id);
    const res = await fetch(`${stack.baseUrl}/d/${t}`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).error.code).toBe('file_unavailable');
  });
});

describe('GET /d/:ticket/manifest.plist (R6)', () => {
  it('an in-house iOS app: the plist names the .ipa link, bundle id, version and title', async () => {
    const ipa = randomBytes(5000);
    const sw = await uploadSoftware([{ name: 'Field.ipa', data: ipa }], {
      name: `Field & <Sales> ${++n}`,
      version: '4.2',
      platforms: 'ios',
      inHouseIos: 'true',
      bundleId: 'com.example.field-sales',
    });
    const { ticket } = await seedTicket(sw.id, sw.files[0]!.id);
    const res = await fetch(`${stack.baseUrl}/d/${ticket}/manifest.plist`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    const text = await res.text();
    expect(XMLValidator.validate(text)).toBe(true);
    const plist = new XMLParser({
      parseTagValue: false,
      isArray: (name) => ['dict', 'key', 'string', 'array'].includes(name),
    }).parse(text).plist;
    const top = plist.dict[0];
    expect(top.key).toEqual(['items']);
    const item = top.array[0].dict[0];
    expect(item.key).toEqual(['assets', 'metadata']);
    const asset = item.array[0].dict[0];
    expect(Object.fromEntries(asset.key.map((k: string, i: number) => [k, asset.string[i]]))).toEqual({
      kind: 'software-package',
      url: `${stack.config.publicUrl}/d/${ticket}`,
    });
    const meta = item.dict[0];
    expect(Object.fromEntries(meta.key.map((k: string, i: number) => [k, meta.string[i]]))).toEqual({
      'bundle-identifier': 'com.example.field-sales',
      'bundle-version': '4.2',
      kind: 'software',
      title: sw.name,
    });
    expect(text).toContain('Field &amp; &lt;Sales&gt;');
    // and the .ipa link serves the app
    const app = await fetch(`${stack.baseUrl}/d/${ticket}`);
    expect(sha256(new Uint8Array(await app.arrayBuffer()))).toBe(sha256(ipa));
  });

  it('404 for a ticket of software that is not an in-house iOS app, and for unknown tickets', async () => {
    const sw = await uploadSoftware([{ name: 'x.cab', data: randomBytes(10) }]);
    const { ticket } = await seedTicket(sw.id, sw.files[0]!.id);
    for (const t of [ticket, randomBytes(32).toString('base64url')]) {
      const res = await fetch(`${stack.baseUrl}/d/${t}/manifest.plist`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as any).error.code).toBe('not_found');
    }
  });
});

describe('parseRange', () => {
  it('covers the RFC 9110 cases', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
    expect(parseRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=9-', 10)).toEqual({ start: 9, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-1', 10)).toEqual({ start: 9, end: 9 });
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=99999999999999999999-', 10)).toBe('unsatisfiable');
    expect(parseRange('BYTES=1-2', 10)).toEqual({ start: 1, end: 2 });
    expect(parseRange('bytes=2-1', 10)).toBeUndefined();
    expect(parseRange('bytes=1-2,4-5', 10)).toBeUndefined();
  });
});
