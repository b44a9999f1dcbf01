/** infra/file-cache.ts: software files read from disk once, re-read when replaced, bounded. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileCache } from '../../infra/file-cache';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-cache-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: string) {
  const file = path.join(dir, name);
  await fs.writeFile(file, content);
  return { file, stat: await fs.stat(file) };
}

describe('FileCache', () => {
  it('reads a file once and serves the same bytes to every later and concurrent caller', async () => {
    const cache = new FileCache();
    const { file, stat } = await write('a.bin', 'first content');
    const [x, y] = await Promise.all([cache.read(file, stat), cache.read(file, stat)]);
    expect(x?.toString()).toBe('first content');
    expect(y).toBe(x);
    // gone from disk: the held copy still answers for the same (path, size, mtime)
    await fs.rm(file);
    expect(await cache.read(file, stat)).toBe(x);
  });

  it('reads a replaced file again (its size or mtime changed)', async () => {
    const cache = new FileCache();
    const a = await write('b.bin', 'version one');
    expect((await cache.read(a.file, a.stat))?.toString()).toBe('version one');
    await new Promise((r) => setTimeout(r, 20));
    const b = await write('b.bin', 'version two, longer');
    expect((await cache.read(b.file, b.stat))?.toString()).toBe('version two, longer');
  });

  it('holds at most maxBytes (least recently used out) and no file over maxFileBytes', async () => {
    const cache = new FileCache(20, 12);
    const one = await write('one', 'x'.repeat(10));
    const two = await write('two', 'y'.repeat(10));
    const big = await write('big', 'z'.repeat(13));
    expect(await cache.read(big.file, big.stat)).toBeUndefined();
    const first = await cache.read(one.file, one.stat);
    await cache.read(two.file, two.stat);
    expect(await cache.read(one.file, one.stat)).toBe(first); // one is now the most recent
    const three = await write('three', 'w'.repeat(10));
    await cache.read(three.file, three.stat); // over 20 bytes: `two` goes
    await fs.rm(two.file);
    await expect(cache.read(two.file, two.stat)).rejects.toThrow(/ENOENT/);
    expect(await cache.read(one.file, one.stat)).toBe(first);
  });

  it('a failed read is not kept', async () => {
    const cache = new FileCache();
    const missing = path.join(dir, 'missing');
    await expect(cache.read(missing, { size: 4, mtimeMs: 1 })).rejects.toThrow(/ENOENT/);
    await fs.writeFile(missing, 'back');
    expect((await cache.read(missing, { size: 4, mtimeMs: 1 }))?.toString()).toBe('back');
  });
});
