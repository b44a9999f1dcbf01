/**
 * Targeting by filter (issue 15) against PostgreSQL: `devices.filter` { platform, tags, installed
 * { name, below, missing }, contactedWithin } selecting exactly the devices the TypeScript rules
 * select (R8's name match and version order, domain/version.ts) out of a few hundred mixed ones —
 * the preview and the created rollout agreeing, the rollout storing its filter; the SQL version key
 * ordering like `compareVersions`; and the filter's query plan on 100,000 devices using the indexes.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceFilter } from '../../domain/rollout-request';
import { compareVersions, reportedVersion } from '../../domain/version';
import { filteredDevices } from '../../services/rollouts/prepare';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ noWorker: true });
});
afterAll(async () => {
  await stack?.stop();
});

const VERSIONS = ['5.2', '5.10', '5.2-rc1', '5.2.0', '5.1.9', '4', 'v5.9 build 3', '5.10a', '6.0-beta', '5.9.10', ' 5.9 '];
const NAMES = ['DME Client', 'dme client', 'DME  Client', 'Other App'];
const TAGS = ['north', 'south', 'sales', 'field'];

interface Spec {
  platform: 'android' | 'symbian';
  tags: string[];
  installed: Record<string, string>;
  contactedDaysAgo: number | null;
}

/** A deterministic mix of a few hundred devices. */
function fleet(count: number, seed: number): Spec[] {
  return fc.sample(
    fc.record({
      platform: fc.constantFrom('android' as const, 'symbian' as const),
      tags: fc.subarray(TAGS),
      installed: fc.oneof(
        fc.constant({}),
        fc
          .record({ name: fc.constantFrom(...NAMES), version: fc.constantFrom(...VERSIONS) })
          .map((r) => ({ [r.name]: r.version })),
      ),
      contactedDaysAgo: fc.option(fc.integer({ min: 0, max: 60 })),
    }),
    { numRuns: count, seed },
  );
}

/** The TypeScript oracle: what the filter must select. */
function matches(d: Spec, f: DeviceFilter): boolean {
  if (f.platform && d.platform !== f.platform) return false;
  if (f.tags && !f.tags.every((t) => d.tags.includes(t))) return false;
  if (f.contactedWithin) {
    const days = Number.parseInt(f.contactedWithin, 10);
    if (d.contactedDaysAgo === null || d.contactedDaysAgo > days - 0.5) return false;
  }
  if (f.installed) {
    const v = reportedVersion(d.installed, f.installed.name);
    const below = f.installed.below;
    const isBelow = v !== undefined && below !== undefined && compareVersions(v, below) < 0;
    const has = v !== undefined && (below === undefined || isBelow);
    if (f.installed.missing) return below === undefined ? v === undefined : isBelow || v === undefined;
    return has;
  }
  return true;
}

async function apk(): Promise<string> {
  const form = new FormData();
  for (const [k, v] of Object.entries({
    name: `app-${randomUUID()}`,
    version: '9',
    kind: 'other',
    platforms: 'android,symbian',
  })) {
    form.set(k, v);
  }
  form.append('file', new Blob(['apk']), 'app.apk');
  form.append('file', new Blob(['sis']), 'app.sisx');
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('devices.filter selects exactly the right devices; preview and create agree', () => {
  it('tag + installed-below (and the other fields) out of 400 mixed devices', async () => {
    const specs = fleet(400, 15);
    const res = await stack.api('POST', '/api/v1/devices', {
      devices: specs.map((s, i) => ({
        externalId: `mix-${i}-${randomUUID()}`,
        platform: s.platform,
        msisdn: '+4915100000002', // reachable by the SMS push of the rollouts below (issue 14)
        tags: s.tags,
        installed: s.installed,
      })),
    });
    expect(res.status).toBe(201);
    const ids: string[] = res.body.devices.map((d: { id: string }) => d.id);
    for (const [i, s] of specs.entries()) {
      if (s.contactedDaysAgo !== null) {
        await stack
          .db('devices')
          .where({ id: ids[i] })
          .update({ last_contact_at: stack.db.raw(`now() - make_interval(days => ?)`, [s.contactedDaysAgo]) });
      }
    }
    // one device of each kind retired: never selected
    const retiredIndex = specs.findIndex((s) =>
      matches(s, { tags: ['north', 'sales'], installed: { name: 'DME Client', below: '5.10' } }),
    );
    expect(retiredIndex).toBeGreaterThanOrEqual(0);
    expect((await stack.api('DELETE', `/api/v1/devices/${ids[retiredIndex]}`)).status).toBe(200);

    const softwareId = await apk();
    const order = async (deviceIds: string[]) =>
      (await stack.db('devices').whereIn('id', deviceIds).orderBy(['created_at', 'id']).select('id')).map((r) => r.id);
    const filters: DeviceFilter[] = [
      { tags: ['north', 'sales'], installed: { name: 'DME Client', below: '5.10' } },
      { tags: ['south'], installed: { name: 'dme client', below: '5.2' } },
      { platform: 'android', installed: { name: 'DME Client', missing: true } },
      { installed: { name: 'DME Client', below: '5.9.10', missing: true }, tags: ['field'] },
      { installed: { name: 'Other App' }, contactedWithin: '30d' },
      { platform: 'symbian', tags: ['sales', 'field'] },
    ];
    for (const filter of filters) {
      const expected = await order(ids.filter((_id, i) => i !== retiredIndex && matches(specs[i]!, filter)));
      expect(expected.length, JSON.stringify(filter)).toBeGreaterThan(0);
      const body = { softwareId, devices: { filter }, schedule: { perDay: 'unlimited', startDate: '2099-01-05' } };
      const preview = await stack.api('POST', '/api/v1/rollouts/preview?limit=10000', body);
      expect(preview.status, JSON.stringify(preview.body)).toBe(200);
      expect(preview.body.total).toBe(expected.length);
      expect(preview.body.slots.map((s: { deviceId: string }) => s.deviceId)).toEqual(expected);

      const created = await stack.api('POST', '/api/v1/rollouts', body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      expect(created.body.total).toBe(expected.length);
      const jobs = await stack.db('installations').where({ rollout_id: created.body.id }).orderBy('seq').select('device_id');
      expect(jobs.map((j) => j.device_id)).toEqual(expected);
      const row = await stack.db('rollouts').where({ id: created.body.id }).first('filter');
      expect(row.filter).toEqual(filter);
    }
    // the same filter on GET /devices (tag + installed + below)
    const listed = await stack.api('GET', '/api/v1/devices?tag=north&installed=DME%20Client&below=5.10&limit=500');
    const listedIds: string[] = listed.body.devices.map((d: { id: string }) => d.id);
    const both = await order(ids.filter((_, i) => i !== retiredIndex && matches(specs[i]!, filters[0]!)));
    for (const id of both) expect(listedIds).toContain(id);
  });

  it('explicit ids naming a retired device are refused naming devices.ids', async () => {
    const res = await stack.api('POST', '/api/v1/devices', {
      devices: [{ externalId: `r-${randomUUID()}`, platform: 'android' }],
    });
    const id = res.body.devices[0].id;
    await stack.api('DELETE', `/api/v1/devices/${id}`);
    const softwareId = await apk();
    const preview = await stack.api('POST', '/api/v1/rollouts/preview', { softwareId, devices: { ids: [id] } });
    expect(preview.status).toBe(400);
    expect(preview.body.error).toMatchObject({ field: 'devices.ids', message: expect.stringMatching(/retired/) });
  });
});

describe('the SQL version key orders like compareVersions (R8)', () => {
  it('for random versions, sign(key(a) vs key(b)) = compareVersions(a, b)', async () => {
    const part = fc.oneof(
      fc.nat({ max: 1200 }).map(String),
      fc.constantFrom('0', '00', 'a', 'b', 'rc', 'beta', 'alpha', 'dev', 'm', 'pre', 'build', 'r', 'sp', 'x', 'v', 'snapshot'),
    );
    const version = fc
      .array(part, { minLength: 1, maxLength: 6 })
      .chain((parts) => fc.constantFrom('.', '-', ' ', '', '_').map((sep) => parts.join(sep)));
    const versions = [
      ...new Set([...fc.sample(version, { numRuns: 300, seed: 7 }), ...VERSIONS, '1', '1.0', '1.0.0.0', '1.0a', '1.0-alpha']),
    ];
    const rows: { v: string; k: string }[] = (
      await stack.db.raw('SELECT v, dr_version_key(v) AS k FROM unnest(?::text[]) AS v', [versions])
    ).rows;
    const key = new Map(rows.map((r) => [r.v, r.k]));
    const bad: string[] = [];
    for (const a of versions) {
      for (const b of versions) {
        const ka = key.get(a)!;
        const kb = key.get(b)!;
        const sql = ka < kb ? -1 : ka > kb ? 1 : 0; // byte order = COLLATE "C"
        if (sql !== compareVersions(a, b)) bad.push(`${a} vs ${b}: sql ${sql}, R8 ${compareVersions(a, b)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});

describe('the filter query on 100,000 devices uses the indexes', () => {
  it('EXPLAIN: index scans on device_software / tags / last contact, no sequential scan of devices', async () => {
    await stack.db.raw(
      `INSERT INTO devices (external_id, platform, token_hash, tags, installed, last_contact_at, created_at)
       SELECT 'big-' || g, CASE WHEN g % 3 = 0 THEN 'symbian' ELSE 'android' END, md5('big-' || g),
              CASE WHEN g % 1000 = 0 THEN ARRAY['rare', 'sales'] WHEN g % 2 = 0 THEN ARRAY['sales'] ELSE ARRAY['north'] END,
              jsonb_build_object('DME Client', CASE WHEN g % 500 = 0 THEN '4.' || (g % 7) ELSE '5.' || (10 + g % 5) END),
              now() - (g % 90) * interval '1 day', now() + g * interval '1 microsecond'
         FROM generate_series(1, 100000) g`,
    );
    await stack.db.raw('ANALYZE devices');
    await stack.db.raw('ANALYZE device_software');
    const plans: Record<string, string> = {};
    const cases: [string, DeviceFilter, RegExp][] = [
      [
        'tag + installed below',
        { tags: ['rare'], installed: { name: 'DME Client', below: '5.10' } },
        /devices_tags_idx|device_software_name_key_idx/,
      ],
      ['installed below (rare old versions)', { installed: { name: 'DME Client', below: '5' } }, /device_software_name_key_idx/],
      ['platform + tag', { platform: 'symbian', tags: ['rare'] }, /devices_tags_idx/],
      ['contacted within a day', { contactedWithin: '1d', tags: ['rare'] }, /devices_(tags|last_contact)_idx/],
    ];
    for (const [name, filter, index] of cases) {
      const { sql, bindings } = filteredDevices(stack.db, filter).toSQL();
      const plan = (await stack.db.raw(`EXPLAIN (FORMAT TEXT) ${sql}`, bindings as any[])).rows
        .map((r: any) => r['QUERY PLAN'])
        .join('\n');
      plans[name] = plan;
      expect(plan, `${name}\n${plan}`).toMatch(index);
      expect(plan, `${name}\n${plan}`).not.toMatch(/Seq Scan on devices/);
    }
    // print the plans for docs/performance.md
    console.log(
      Object.entries(plans)
        .map(([k, v]) => `-- ${k}\n${v}`)
        .join('\n\n'),
    );
    // and the answer is right: 100 'rare' devices, those with DME Client below 5.10
    const rows = await filteredDevices(stack.db, { tags: ['rare'], installed: { name: 'DME Client', below: '5.10' } });
    const expected = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000).filter((g) => g % 500 === 0).length;
    expect(rows).toHaveLength(expected);
  }, 180_000);
});
