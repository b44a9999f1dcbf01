/**
 * The software catalogue (R7: one software, several file variants): adding a software with its
 * uploaded files (moved into FILES_DIR, rows written in one transaction; nothing kept when refused),
 * paging it in creation order, one software with its files.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Platform } from '../domain/install-options';
import type { Db } from '../infra/db';
import { moveIntoStore, removeQuietly, resolveStoredFile, softwareFileStoragePath } from '../infra/files';
import { conflict, pageWithCursor } from './errors';

export interface SoftwareRow {
  id: string;
  name: string;
  version: string;
  kind: string;
  platforms: string[];
  in_house_ios: boolean;
  bundle_id: string | null;
  created_at: Date;
}

export interface FileRow {
  id: string;
  software_id: string;
  file_name: string;
  format: string;
  size: string | number;
  sha256: string;
}

export interface NewSoftware {
  name: string;
  version: string;
  kind: string;
  platforms: Platform[];
  inHouseIos: boolean;
  bundleId?: string;
  /** The uploaded files in upload order (the first is the software's main file), still at their temporary path. */
  files: { tempPath: string; fileName: string; format: string; size: number; sha256: string }[];
}

/** Adds a software and its files; `conflict` (`version`) when that name and version exist already. */
export async function addSoftware(
  db: Db,
  filesDir: string,
  sw: NewSoftware,
): Promise<{ software: SoftwareRow; files: FileRow[] }> {
  const existing = await db('software').where({ name: sw.name, version: sw.version }).first('id');
  if (existing) throw conflict(`software "${sw.name}" version "${sw.version}" already exists (id ${existing.id})`, 'version');

  const id = randomUUID();
  const rows = sw.files.map((f, i) => {
    const fileId = randomUUID();
    return {
      id: fileId,
      software_id: id,
      file_name: f.fileName,
      format: f.format,
      size: f.size,
      sha256: f.sha256,
      storage_path: softwareFileStoragePath(id, fileId, f.format),
      // upload order (the first file is the software's main file)
      created_at: db.raw('now() + make_interval(secs => ?)', [i / 1_000_000]),
      temp: f.tempPath,
    };
  });
  const stored: string[] = [];
  try {
    for (const row of rows) {
      await moveIntoStore(filesDir, row.temp, row.storage_path);
      stored.push(resolveStoredFile(filesDir, row.storage_path));
    }
    try {
      await db.transaction(async (trx) => {
        await trx('software').insert({
          id,
          name: sw.name,
          version: sw.version,
          kind: sw.kind,
          platforms: sw.platforms,
          in_house_ios: sw.inHouseIos,
          bundle_id: sw.bundleId ?? null,
        });
        await trx('software_files').insert(rows.map(({ temp: _temp, ...row }) => row));
      });
    } catch (err: any) {
      if (err?.code === '23505') throw conflict(`software "${sw.name}" version "${sw.version}" already exists`, 'version');
      throw err;
    }
    stored.length = 0; // committed: keep the files
  } finally {
    await Promise.all(stored.map((p) => removeQuietly(p)));
    // the refused software's own directory (its files are gone now)
    if (stored.length > 0) await fs.rmdir(path.dirname(stored[0]!)).catch(() => undefined);
  }
  const created = (await db('software').where({ id }).first()) as SoftwareRow;
  return { software: created, files: await filesOf(db, id) };
}

/** A software's files in upload order. */
async function filesOf(db: Db, softwareId: string): Promise<FileRow[]> {
  return (await db('software_files').where({ software_id: softwareId }).orderBy('created_at')) as FileRow[];
}

/**
 * A page of `limit` software in creation order after the one whose paging key is `after` ([created
 * key, id]), with their files, and the key of the page's last one when more follow. A forged key is
 * `invalid` (`cursor`).
 */
export async function listSoftware(
  db: Db,
  q: { limit: number; after?: [string, string] },
): Promise<{ software: SoftwareRow[]; files: FileRow[]; nextKey: [string, string] | null }> {
  const query = db('software')
    .select('*', db.raw('created_at::text as created_key'))
    .orderBy([
      { column: 'created_at', order: 'asc' },
      { column: 'id', order: 'asc' },
    ])
    .limit(q.limit + 1);
  if (q.after) query.whereRaw('(created_at, id) > (?::timestamptz, ?::uuid)', q.after);
  const rows: (SoftwareRow & { created_key: string })[] = await pageWithCursor(query);
  const page = rows.slice(0, q.limit);
  const files = page.length
    ? ((await db('software_files')
        .whereIn(
          'software_id',
          page.map((s) => s.id),
        )
        .orderBy('created_at')) as FileRow[])
    : [];
  const last = page[page.length - 1];
  return { software: page, files, nextKey: rows.length > q.limit && last ? [last.created_key, last.id] : null };
}

/** One software with its files, if it exists. */
export async function findSoftware(db: Db, id: string): Promise<{ software: SoftwareRow; files: FileRow[] } | undefined> {
  const software = (await db('software').where({ id }).first()) as SoftwareRow | undefined;
  return software ? { software, files: await filesOf(db, id) } : undefined;
}
