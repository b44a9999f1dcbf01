/**
 * Software files held in memory for the download links: a rollout serves the same few files to
 * thousands of devices, so each is read from disk once instead of once per download (an open, reads
 * and a close through libuv's thread pool for every device). Keyed by path, size and mtime (a file
 * replaced on disk is read again); least recently used first out beyond `maxBytes`; files over
 * `maxFileBytes` are not held (they are streamed from disk).
 */
import { promises as fs, type Stats } from 'node:fs';

export class FileCache {
  private readonly entries = new Map<string, { bytes: Promise<Buffer>; size: number }>();
  private bytes = 0;

  constructor(
    readonly maxBytes = 64 * 1024 * 1024,
    readonly maxFileBytes = 8 * 1024 * 1024,
  ) {}

  /** The file's bytes when it is small enough to hold (read once, shared by concurrent callers); else undefined. */
  async read(file: string, stat: Pick<Stats, 'size' | 'mtimeMs'>): Promise<Buffer | undefined> {
    if (stat.size > this.maxFileBytes || stat.size > this.maxBytes) return undefined;
    const key = `${file}\0${stat.size}\0${stat.mtimeMs}`;
    const hit = this.entries.get(key);
    if (hit) {
      // most recently used last
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.bytes;
    }
    const bytes = fs.readFile(file);
    this.entries.set(key, { bytes, size: stat.size });
    this.bytes += stat.size;
    try {
      const buf = await bytes;
      if (buf.length !== stat.size) throw new Error(`${file} changed while it was read`);
    } catch (err) {
      this.forget(key);
      throw err;
    }
    for (const k of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      if (k !== key) this.forget(k);
    }
    return bytes;
  }

  private forget(key: string): void {
    const e = this.entries.get(key);
    if (e && this.entries.delete(key)) this.bytes -= e.size;
  }
}
