/**
 * Software upload (multipart) against the real stack: files streamed to FILES_DIR with their SHA-256,
 * variants, validation naming the field, 409 on (name, version), 413 over SOFTWARE_MAX_BYTES, nothing
 * left on disk after a refused upload.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlatforms } from '../../api/admin/software';
import { resolveStoredFile } from '../../infra/files';
import { type Stack, startStack } from '../helpers/stack';

const MAX = 256 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let stack: Stack;
let n = 0;

beforeAll(async () => {
  stack = await startStack({ noWorker: true, env: { SOFTWARE_MAX_BYTES: '256k' } });
});
afterAll(async () => {
  await stack?.stop();
});

interface Part {
  name: string;
  data: Uint8Array;
  field?: string;
}

async function upload(fields: Record<string, string | string[]>, files: Part[], token: string | null = stack.adminKey) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  for (const f of files) form.append(f.field ?? 'file', new Blob([f.data]), f.name);
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const uniqueName = () => `Client ${Date.now()}-${++n}`;
const base = () => ({
  name: uniqueName(),
  version: '5.2.1',
  kind: 'dme-client',
  platforms: 'windows-mobile-pocketpc,windows-mobile-smartphone',
});

async function tmpFiles(): Promise<string[]> {
  return fs.readdir(path.join(stack.config.filesDir, 'tmp')).catch(() => []);
}

describe('POST /api/v1/software', () => {
  it('stores the variants with size and SHA-256 (201; sha256/size of the first file) and serves them back', async () => {
    const cab = randomBytes(100_000);
    const exe = randomBytes(12_345);
    const fields = base();
    const res = await upload(fields, [
      { name: 'DMEClient.CAB', data: cab },
      { name: 'DMEClient.exe', data: exe },
    ]);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: fields.name,
      version: '5.2.1',
      kind: 'dme-client',
      platforms: ['windows-mobile-pocketpc', 'windows-mobile-smartphone'],
      inHouseIos: false,
      bundleId: null,
      sha256: sha256(cab),
      size: cab.length,
      files: [
        { id: expect.any(String), fileName: 'DMEClient.CAB', format: 'cab', size: cab.length, sha256: sha256(cab) },
        { id: expect.any(String), fileName: 'DMEClient.exe', format: 'exe', size: exe.length, sha256: sha256(exe) },
      ],
    });
    const rows = await stack.db('software_files').where({ software_id: res.body.id }).orderBy('created_at');
    expect(rows.map((r) => r.format)).toEqual(['cab', 'exe']);
    for (const [row, data] of [
      [rows[0], cab],
      [rows[1], exe],
    ] as const) {
      expect(path.isAbsolute(row.storage_path)).toBe(false);
      const onDisk = await fs.readFile(resolveStoredFile(stack.config.filesDir, row.storage_path));
      expect(Buffer.compare(onDisk, data)).toBe(0);
    }
    expect(await tmpFiles()).toEqual([]);

    const one = await stack.api('GET', `/api/v1/software/${res.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(res.body);
    const list = await stack.api('GET', '/api/v1/software?limit=500');
    expect(list.body.software.map((s: any) => s.id)).toContain(res.body.id);
  });

  it('takes platforms as a JSON array or repeated fields, and an in-house iOS app with bundleId and .ipa', async () => {
    const ipa = randomBytes(2048);
    const res = await upload(
      {
        name: uniqueName(),
        version: '1.4',
        kind: 'other',
        platforms: '["ios"]',
        inHouseIos: 'true',
        bundleId: 'com.example.field',
      },
      [{ name: 'Field.ipa', data: ipa }],
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ platforms: ['ios'], inHouseIos: true, bundleId: 'com.example.field', sha256: sha256(ipa) });

    const rep = await upload({ name: uniqueName(), version: '2', kind: 'other', platforms: ['symbian', 'android, symbian'] }, [
      { name: 'a.sisx', data: randomBytes(10) },
      { name: 'a.apk', data: randomBytes(10) },
    ]);
    expect(rep.status).toBe(201);
    expect(rep.body.platforms).toEqual(['symbian', 'android']);
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'a\u0007b' }, 'name'],
    [{ version: undefined }, 'version'],
    [{ version: 'x'.repeat(101) }, 'version'],
    [{ kind: 'driver' }, 'kind'],
    [{ platforms: 'symbian,palm' }, 'platforms'],
    [{ platforms: '' }, 'platforms'],
    [{ platforms: '["ios", 3]' }, 'platforms'],
    [{ platforms: '[oops' }, 'platforms'],
    [{ inHouseIos: 'maybe' }, 'inHouseIos'],
    [{ bundleId: 'not a bundle id' }, 'bundleId'],
  ])('400 naming the field for %j', async (override, field) => {
    const fields: Record<string, string> = { ...base() };
    for (const [k, v] of Object.entries(override)) {
      if (v === undefined) delete fields[k];
      else fields[k] = v;
    }
    const res = await upload(fields, [{ name: 'c.cab', data: randomBytes(100) }]);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', field });
    expect(await tmpFiles()).toEqual([]);
  });

  it('in-house iOS: bundleId required, an .ipa required, platform ios required', async () => {
    const f = { name: uniqueName(), version: '1', kind: 'other', platforms: 'ios', inHouseIos: 'yes' };
    let res = await upload(f, [{ name: 'App.ipa', data: randomBytes(10) }]);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('bundleId');
    res = await upload({ ...f, bundleId: 'com.example.app' }, [{ name: 'App.zip', data: randomBytes(10) }]);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ field: 'file', message: expect.stringContaining('.ipa') });
    res = await upload({ ...f, bundleId: 'com.example.app', platforms: 'android' }, [{ name: 'App.ipa', data: randomBytes(10) }]);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('platforms');
  });

  it('400 `file` when no file is sent (multipart without a file part, or JSON), for an empty file, no extension, two of one format', async () => {
    let res = await upload(base(), []);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('file');
    const json = await stack.api('POST', '/api/v1/software', base());
    expect(json.status).toBe(400);
    expect(json.body.error.field).toBe('file');
    for (const files of [
      [{ name: 'empty.cab', data: new Uint8Array(0) }],
      [{ name: 'README', data: randomBytes(10) }],
      [
        { name: 'a.cab', data: randomBytes(10) },
        { name: 'b.CAB', data: randomBytes(10) },
      ],
    ]) {
      res = await upload(base(), files);
      expect(res.status, files[0]?.name).toBe(400);
      expect(res.body.error.field).toBe('file');
    }
    expect(await tmpFiles()).toEqual([]);
  });

  it('400 naming an unexpected file field', async () => {
    const res = await upload(base(), [{ name: 'a.cab', data: randomBytes(10), field: 'attachment' }]);
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('attachment');
    expect(await tmpFiles()).toEqual([]);
  });

  it('409 for an existing (name, version), keeping nothing of the refused upload', async () => {
    const fields = base();
    expect((await upload(fields, [{ name: 'a.cab', data: randomBytes(10) }])).status).toBe(201);
    const storedBefore = await stack.db('software_files').count({ c: '*' });
    const res = await upload(fields, [{ name: 'b.cab', data: randomBytes(10) }]);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'conflict', field: 'version' });
    expect(res.body.error.message).toContain(fields.name);
    expect(await stack.db('software_files').count({ c: '*' })).toEqual(storedBefore);
    expect(await tmpFiles()).toEqual([]);
    // another version of the same name is fine
    expect((await upload({ ...fields, version: '5.2.2' }, [{ name: 'a.cab', data: randomBytes(10) }])).status).toBe(201);
  });

  it('413 JSON for a file over SOFTWARE_MAX_BYTES; exactly the limit is accepted', async () => {
    const res = await upload(base(), [{ name: 'big.cab', data: randomBytes(MAX + 1) }]);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'payload_too_large', field: 'file' });
    expect(res.body.error.message).toContain(String(MAX));
    expect(await tmpFiles()).toEqual([]);
    const ok = await upload(base(), [{ name: 'max.cab', data: randomBytes(MAX) }]);
    expect(ok.status).toBe(201);
    expect(ok.body.size).toBe(MAX);
  });

  it('401 without an admin key (nothing stored)', async () => {
    const fields = base();
    const res = await upload(fields, [{ name: 'a.cab', data: randomBytes(10) }], null);
    expect(res.status).toBe(401);
    expect(await stack.db('software').where({ name: fields.name }).first()).toBeUndefined();
  });
});

describe('GET /api/v1/software', () => {
  it('pages with a cursor; 404 for unknown or malformed ids', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 50; i++) {
      const res: { status: number; body: any } = await stack.api(
        'GET',
        `/api/v1/software?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.software.map((s: any) => s.id));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    const total = Number((await stack.db('software').count({ c: '*' }))[0]!.c);
    expect(seen.length).toBe(total);
    expect(new Set(seen).size).toBe(total);
    for (const id of [randomUUID(), 'nope']) {
      const res = await stack.api('GET', `/api/v1/software/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

describe('parsePlatforms', () => {
  it('comma list, JSON array, repeated values; deduplicated', () => {
    expect(parsePlatforms('ios, android')).toEqual(['ios', 'android']);
    expect(parsePlatforms('["symbian","symbian"]')).toEqual(['symbian']);
    expect(parsePlatforms(['other', 'windows-ce,other'])).toEqual(['other', 'windows-ce']);
  });
  it.each([undefined, '', ' , ', 'palm', '[]', '{"a":1}', ['ios', 3]])('refuses %j naming platforms', (raw) => {
    expect(() => parsePlatforms(raw)).toThrow(expect.objectContaining({ field: 'platforms' }));
  });
});
