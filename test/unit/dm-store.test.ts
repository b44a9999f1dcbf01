/**
 * DM credentials at rest (omadm/store.ts): the key (DM_SECRET_KEY or the generated key file), the
 * AES-256-GCM sealing bound to row and column, and the row mapping that keeps passwords out of the
 * stored state.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../infra/config';
import { withInstallJob } from '../../omadm/scomo';
import { createDeviceState } from '../../omadm/session-model';
import {
  DM_SECRET_KEY_FILE,
  type DmDeviceRecord,
  type DmDeviceRow,
  DmSecretBox,
  DmSecretError,
  deriveDmKey,
  externalIdCandidates,
  loadDmSecretKey,
  recordFromRow,
  rowFromRecord,
  stripSecrets,
} from '../../omadm/store';

const KEY_HEX = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const tmpDirs: string[] = [];
afterAll(async () => {
  for (const d of tmpDirs) await fs.rm(d, { recursive: true, force: true });
});
async function tmpDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'dm-store-'));
  tmpDirs.push(d);
  return d;
}

describe('deriveDmKey', () => {
  it('takes 64 hex digits as the raw key', () => {
    expect(deriveDmKey(KEY_HEX).toString('hex')).toBe(KEY_HEX);
    expect(deriveDmKey(` ${KEY_HEX.toUpperCase()}\n`).toString('hex')).toBe(KEY_HEX);
  });
  it('stretches a passphrase to 32 bytes, deterministically', () => {
    const a = deriveDmKey('correct horse battery staple');
    expect(a).toHaveLength(32);
    expect(deriveDmKey('correct horse battery staple').equals(a)).toBe(true);
    expect(deriveDmKey('correct horse battery staplE').equals(a)).toBe(false);
  });
  it('refuses short passphrases; 63 hex digits are a passphrase, not a key', () => {
    expect(() => deriveDmKey('short')).toThrow(/at least 16/);
    expect(deriveDmKey(KEY_HEX.slice(1))).toHaveLength(32); // not a raw key, a 63-character passphrase
  });
});

describe('DmSecretBox', () => {
  const box = new DmSecretBox(Buffer.from(KEY_HEX, 'hex'));

  it('round-trips and never repeats a ciphertext', () => {
    const a = box.seal('s3cr3t-pässword', 'ctx');
    const b = box.seal('s3cr3t-pässword', 'ctx');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(a).not.toContain('s3cr3t');
    expect(box.open(a, 'ctx')).toBe('s3cr3t-pässword');
    expect(box.open(b, 'ctx')).toBe('s3cr3t-pässword');
  });

  it('does not open under another context (row/column binding)', () => {
    const sealed = box.seal('pw', 'dm_devices/a/client_secret');
    expect(() => box.open(sealed, 'dm_devices/b/client_secret')).toThrow(DmSecretError);
    expect(() => box.open(sealed, 'dm_devices/a/server_secret')).toThrow(DmSecretError);
  });

  it('does not open with another key, and says so without revealing anything', () => {
    const other = new DmSecretBox(deriveDmKey('another key, quite long'));
    const sealed = box.seal('the-password', 'ctx');
    expect(() => other.open(sealed, 'ctx')).toThrow(/DM_SECRET_KEY/);
    try {
      other.open(sealed, 'ctx');
    } catch (err) {
      expect((err as Error).message).not.toContain('the-password');
    }
  });

  it('rejects tampered or foreign values', () => {
    const sealed = box.seal('pw', 'ctx');
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[2] as string, 'base64url');
    ct[0] = (ct[0] as number) ^ 1;
    const tampered = [parts[0], parts[1], ct.toString('base64url'), parts[3]].join('.');
    expect(() => box.open(tampered, 'ctx')).toThrow(DmSecretError);
    expect(() => box.open('pw', 'ctx')).toThrow(/not a sealed/);
    expect(() => box.open(`v2.${parts.slice(1).join('.')}`, 'ctx')).toThrow(/not a sealed/);
  });

  it('needs a 32-byte key', () => {
    expect(() => new DmSecretBox(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});

describe('loadDmSecretKey', () => {
  it('generates the key file once (mode 0600) and reads it afterwards', async () => {
    const dir = path.join(await tmpDir(), 'nested', 'data');
    const [k1, k2] = await Promise.all([loadDmSecretKey({ dataDir: dir }), loadDmSecretKey({ dataDir: dir })]);
    expect(k1).toHaveLength(32);
    expect(k2.equals(k1)).toBe(true);
    const file = path.join(dir, DM_SECRET_KEY_FILE);
    expect((await fs.readFile(file, 'utf8')).trim()).toBe(k1.toString('hex'));
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('uses an existing key file (a second process, a restart)', async () => {
    const dir = await tmpDir();
    await fs.writeFile(path.join(dir, DM_SECRET_KEY_FILE), `${KEY_HEX}\n`);
    expect((await loadDmSecretKey({ dataDir: dir })).toString('hex')).toBe(KEY_HEX);
  });

  it('refuses a corrupt key file instead of replacing it', async () => {
    const dir = await tmpDir();
    await fs.writeFile(path.join(dir, DM_SECRET_KEY_FILE), 'not a key');
    await expect(loadDmSecretKey({ dataDir: dir })).rejects.toThrow(/does not hold a DM secret key/);
    expect(await fs.readFile(path.join(dir, DM_SECRET_KEY_FILE), 'utf8')).toBe('not a key');
  });

  it('prefers DM_SECRET_KEY and does not touch DATA_DIR then', async () => {
    const dir = await tmpDir();
    const key = await loadDmSecretKey({ secretKey: KEY_HEX, dataDir: dir });
    expect(key.toString('hex')).toBe(KEY_HEX);
    expect(await fs.readdir(dir)).toEqual([]);
  });
});

describe('rows', () => {
  const box = new DmSecretBox(Buffer.from(KEY_HEX, 'hex'));
  const deviceId = '6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab';
  const state = withInstallJob(
    createDeviceState({
      account: {
        clientUsername: 'dr-user',
        clientPassword: 'client-pass-123',
        clientNonce: 'Y2xpZW50',
        serverId: 'devicerollout',
        serverPassword: 'server-pass-456',
        serverNonce: 'c2VydmVy',
      },
    }),
    { jobId: deviceId, pkgId: 'pkg1', packageUrl: 'http://x/d/t', name: 'App' },
  );
  const rec: DmDeviceRecord = {
    deviceId,
    clientUsername: 'dr-user',
    deviceUri: 'IMEI:1',
    state,
    bootstrapKey: 'k',
    bootstrapSentAt: null,
    bootstrappedAt: null,
  };

  it('stores the state without passwords and the passwords sealed', () => {
    const row = rowFromRecord(rec, box);
    const stored = JSON.stringify(row);
    expect(stored).not.toContain('client-pass-123');
    expect(stored).not.toContain('server-pass-456');
    expect(JSON.stringify(stripSecrets(state))).not.toMatch(/Password/);
    expect((row.state as any).account.clientNonce).toBe('Y2xpZW50');
    expect((row.state as any).install.packageUrl).toBe('http://x/d/t');
    expect(state.account.clientPassword).toBe('client-pass-123'); // the input is not modified
  });

  it('reads back what it stored (jsonb object or text)', () => {
    const row = rowFromRecord(rec, box) as DmDeviceRow;
    expect(recordFromRow(row, box).state).toEqual(state);
    expect(recordFromRow({ ...row, state: JSON.stringify(row.state) }, box).state).toEqual(state);
  });

  it('an account without server credentials stays without', () => {
    const s = structuredClone(state);
    delete s.account.serverPassword;
    const row = rowFromRecord({ ...rec, state: s }, box) as DmDeviceRow;
    expect(row.server_secret).toBeNull();
    expect(recordFromRow(row, box).state.account).not.toHaveProperty('serverPassword');
  });

  it('a sealed password moved to another device does not open', () => {
    const row = rowFromRecord(rec, box) as DmDeviceRow;
    expect(() => recordFromRow({ ...row, device_id: '00000000-0000-4000-8000-000000000000' }, box)).toThrow(DmSecretError);
  });
});

describe('externalIdCandidates', () => {
  it('strips the URI scheme of device identifiers', () => {
    expect(externalIdCandidates('IMEI:490154203237518')).toEqual(['IMEI:490154203237518', '490154203237518']);
    expect(externalIdCandidates('imei:1')).toEqual(['imei:1', '1']);
    expect(externalIdCandidates('MEID:A1')).toEqual(['MEID:A1', 'A1']);
    expect(externalIdCandidates('urn:uuid:abc')).toEqual(['urn:uuid:abc', 'abc']);
    expect(externalIdCandidates('device-42')).toEqual(['device-42']);
    expect(externalIdCandidates('IMEI:')).toEqual(['IMEI:']);
  });
});

describe('DM settings (infra/config.ts)', () => {
  it('defaults: server id devicerollout, key from DATA_DIR, 256 KiB messages', () => {
    const c = loadConfig({});
    expect(c.dm).toEqual({ serverId: 'devicerollout', secretKey: undefined, maxMessageBytes: 256 * 1024 });
  });
  it('takes DM_SERVER_ID, DM_SECRET_KEY and DM_MAX_MESSAGE_SIZE', () => {
    const c = loadConfig({ DM_SERVER_ID: 'acme-dm', DM_SECRET_KEY: KEY_HEX, DM_MAX_MESSAGE_SIZE: '64k' });
    expect(c.dm).toEqual({ serverId: 'acme-dm', secretKey: KEY_HEX, maxMessageBytes: 64 * 1024 });
  });
  it.each(['with space', 'a<b', 'x'.repeat(256)])('refuses DM_SERVER_ID %j naming the setting', (id) => {
    expect(() => loadConfig({ DM_SERVER_ID: id })).toThrow(/DM_SERVER_ID/);
  });
  it('refuses a bad DM_MAX_MESSAGE_SIZE naming the setting', () => {
    expect(() => loadConfig({ DM_MAX_MESSAGE_SIZE: 'lots' })).toThrow(/DM_MAX_MESSAGE_SIZE/);
  });
});
