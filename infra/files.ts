/**
 * Software file storage under `config.filesDir` (FILES_DIR):
 *
 *   <filesDir>/tmp/<random>.part                       uploads in progress (multer storage engine below)
 *   <filesDir>/software/<softwareId>/<fileId>.<format> stored files
 *
 * `software_files.storage_path` holds the path RELATIVE to filesDir (so the directory can move, e.g. a
 * docker volume mounted elsewhere); an absolute storage_path is used as is.
 *
 * The upload engine hashes while it writes (one pass: SHA-256 and size are known when the last
 * byte is on disk).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';

/** What the upload engine adds to a multer file. */
interface StoredUpload {
  /** Absolute path of the temporary file. */
  path: string;
  size: number;
  /** Lower-case hex SHA-256 of the content. */
  sha256: string;
}

export type UploadedFile = Express.Multer.File & StoredUpload;

/** The relative storage path of a software file. */
export function softwareFileStoragePath(softwareId: string, fileId: string, format: string): string {
  const ext = format ? `.${format.replace(/[^a-z0-9]/gi, '').toLowerCase()}` : '';
  return path.posix.join('software', softwareId, `${fileId}${ext}`);
}

/** Absolute path of a stored file. */
export function resolveStoredFile(filesDir: string, storagePath: string): string {
  return path.isAbsolute(storagePath) ? storagePath : path.join(filesDir, storagePath);
}

/** Moves an uploaded temp file to its storage path (same file system: a rename). */
export async function moveIntoStore(filesDir: string, tempPath: string, storagePath: string): Promise<void> {
  const target = resolveStoredFile(filesDir, storagePath);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.rename(tempPath, target);
}

export async function removeQuietly(p: string | undefined): Promise<void> {
  if (!p) return;
  await fs.rm(p, { force: true }).catch(() => undefined);
}

/**
 * Multer storage engine: writes each file to `<filesDir>/tmp/` while computing its SHA-256 and size.
 * Multer's `limits.fileSize` still applies (busboy truncates the stream, multer aborts and calls
 * `_removeFile`).
 */
export function hashingDiskStorage(filesDir: string): StorageEngine {
  const tmpDir = path.join(filesDir, 'tmp');
  return {
    _handleFile(_req: Request, file: Express.Multer.File, cb: (error?: any, info?: Partial<UploadedFile>) => void) {
      const tempPath = path.join(tmpDir, `${randomBytes(16).toString('hex')}.part`);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      fs.mkdir(tmpDir, { recursive: true })
        .then(() => pipeline(file.stream, tap, createWriteStream(tempPath)))
        .then(
          () => cb(null, { path: tempPath, size, sha256: hash.digest('hex') }),
          async (err) => {
            await removeQuietly(tempPath);
            cb(err);
          },
        );
    },
    _removeFile(_req: Request, file: Express.Multer.File, cb: (error: Error | null) => void) {
      removeQuietly(file.path).then(() => cb(null));
    },
  };
}

/** Content types of the install formats (anything else: application/octet-stream). */
const CONTENT_TYPES: Record<string, string> = {
  cab: 'application/vnd.ms-cab-compressed',
  exe: 'application/vnd.microsoft.portable-executable',
  msi: 'application/x-msi',
  sis: 'application/vnd.symbian.install',
  sisx: 'x-epoc/x-sisx-app',
  jar: 'application/java-archive',
  jad: 'text/vnd.sun.j2me.app-descriptor',
  ipa: 'application/octet-stream',
  apk: 'application/vnd.android.package-archive',
  zip: 'application/zip',
};

export function contentTypeOf(format: string): string {
  return CONTENT_TYPES[format.toLowerCase()] ?? 'application/octet-stream';
}
