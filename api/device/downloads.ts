/**
 * Ticket links (mounted on /d, no other authentication: the ticket is the secret):
 *  - `GET|HEAD /d/:ticket` streams the ticket's software file (D3): `Accept-Ranges: bytes`, one HTTP
 *    range → 206 + Content-Range (unsatisfiable → 416 `bytes * /size`; malformed or multiple ranges →
 *    the whole file, 200), `If-Range`, `ETag` = quoted SHA-256, `X-Checksum-SHA256` (hex),
 *    `Digest: sha-256=<base64>` and `Repr-Digest`. Expired or revoked → 410; unknown → 404 that
 *    reveals nothing (malformed tickets get the same answer).
 *  - `GET /d/:ticket/manifest.plist`: the itms-services manifest of an in-house iOS app (R6).
 * A response that served the last byte and finished is a completed download (services/downloads.ts):
 * only the first completion queues `downloaded` (source 'download') for the install workflow.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { pipeline, finished as responseFinished } from 'node:stream/promises';
import { type Request, type Response, Router } from 'express';
import { FileCache } from '../../infra/file-cache';
import { contentTypeOf, resolveStoredFile } from '../../infra/files';
import { completeDownload, findTicket, type TicketRow } from '../../services/downloads';
import type { ApiContext } from '../context';
import { ApiError } from '../http/errors';

/** What happened to one served request (for tests and metrics). */
export interface DownloadEvent {
  ticket: string;
  status: 200 | 206;
  start: number;
  end: number;
  /** The response finished (all its bytes were handed to the connection). */
  finished: boolean;
  /** This response completed the download for the first time (`downloaded_at` was set by it). */
  firstCompletion: boolean;
  /** … and queued `downloaded` for the install workflow (not when the device's report did first). */
  signalled: boolean;
}

export interface DownloadOptions {
  /** Called once per GET response after it ended (finished or aborted). */
  onServed?: (e: DownloadEvent) => void;
  /** Files held in memory (default: one cache per router, 64 MB, files up to 8 MB). */
  fileCache?: FileCache;
}

const TICKET_RE = /^[A-Za-z0-9_-]{8,200}$/;

const unknownTicket = () => new ApiError(404, 'not_found', 'download link not found');

export type ByteRange = { start: number; end: number };

/**
 * One `Range` header against a representation of `size` bytes (RFC 9110 §14): a satisfiable single
 * byte range, 'unsatisfiable' (→ 416), or undefined when the header is absent, malformed, names
 * another unit or several ranges (→ the whole representation).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return { start, end };
}

function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

const xml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** The itms-services manifest (R6): the .ipa link, bundle id, version, title. */
function iosManifest(m: { url: string; bundleId: string; version: string; title: string }): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>items</key>
  <array>
    <dict>
      <key>assets</key>
      <array>
        <dict>
          <key>kind</key>
          <string>software-package</string>
          <key>url</key>
          <string>${xml(m.url)}</string>
        </dict>
      </array>
      <key>metadata</key>
      <dict>
        <key>bundle-identifier</key>
        <string>${xml(m.bundleId)}</string>
        <key>bundle-version</key>
        <string>${xml(m.version)}</string>
        <key>kind</key>
        <string>software</string>
        <key>title</key>
        <string>${xml(m.title)}</string>
      </dict>
    </dict>
  </array>
</dict>
</plist>
`;
}

export function downloadRoutes(ctx: ApiContext, opts: DownloadOptions = {}): Router {
  const { db, config } = ctx;
  const completion = { db, outbox: ctx.signalOutbox };
  const files = opts.fileCache ?? new FileCache();
  const r = Router();

  /** The ticket's row, or the 404/410 error. */
  async function validTicket(raw: unknown): Promise<TicketRow> {
    if (typeof raw !== 'string' || !TICKET_RE.test(raw)) throw unknownTicket();
    const row = await findTicket(db, raw);
    if (!row) throw unknownTicket();
    if (row.revoked_at) throw new ApiError(410, 'gone', 'this download link is no longer valid');
    if (row.expired) throw new ApiError(410, 'gone', 'this download link has expired');
    return row; // a valid link fetched: findTicket recorded its device's contact (P1 "not heard from")
  }

  r.get('/:ticket/manifest.plist', async (req, res) => {
    const row = await validTicket(req.params.ticket);
    if (!row.in_house_ios || !row.bundle_id || row.format !== 'ipa') {
      throw new ApiError(404, 'not_found', 'this download link has no iOS manifest');
    }
    res
      .status(200)
      .type('text/xml; charset=utf-8')
      .set('Cache-Control', 'private, no-store')
      .send(
        iosManifest({
          url: `${config.publicUrl}/d/${row.ticket}`,
          bundleId: row.bundle_id,
          version: row.version,
          title: row.name,
        }),
      );
  });

  r.get('/:ticket', async (req: Request, res: Response) => {
    const row = await validTicket(req.params.ticket);
    const size = Number(row.size);
    const file = resolveStoredFile(config.filesDir, row.storage_path);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat?.isFile() || stat.size !== size) {
      ctx.log(`software file ${file} is missing or not ${size} bytes`, undefined);
      throw new ApiError(500, 'file_unavailable', 'the file of this download link is unavailable');
    }
    const etag = `"${row.sha256}"`;
    const lastModified = new Date(row.file_created_at).toUTCString();
    // If-Range: a range only applies to the representation the client already holds part of.
    const ifRange = req.header('if-range')?.trim();
    const rangeApplies = ifRange === undefined || ifRange === etag || ifRange === lastModified;
    const range = rangeApplies ? parseRange(req.header('range'), size) : undefined;
    res.set({ 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified });
    if (range === 'unsatisfiable') {
      res.set('Content-Range', `bytes */${size}`);
      throw new ApiError(416, 'range_not_satisfiable', `the range is outside the file (${size} bytes)`);
    }
    const b64 = Buffer.from(row.sha256, 'hex').toString('base64');
    res.set({
      'X-Checksum-SHA256': row.sha256,
      Digest: `sha-256=${b64}`,
      'Repr-Digest': `sha-256=:${b64}:`,
      'Content-Type': contentTypeOf(row.format),
      'Content-Disposition': contentDisposition(row.file_name),
      'Cache-Control': 'private, no-transform',
      'X-Content-Type-Options': 'nosniff',
    });
    const status = range ? 206 : 200;
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    res.status(status).set('Content-Length', String(end - start + 1));
    if (range) res.set('Content-Range', `bytes ${start}-${end}/${size}`);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }

    let finished = false;
    try {
      const held = await files.read(file, stat);
      if (held) {
        res.end(held.subarray(start, end + 1));
        await responseFinished(res);
      } else await pipeline(createReadStream(file, { start, end }), res);
      finished = true;
    } catch {
      // the client went away (or the file could not be read): not a completed download
      if (!res.headersSent) res.status(500);
      res.destroy();
    }
    let outcome = { first: false, signalled: false };
    if (finished && end === size - 1) {
      try {
        outcome = await completeDownload(completion, row);
      } catch (err) {
        ctx.log('could not record a completed download', err);
      }
    }
    opts.onServed?.({
      ticket: row.ticket,
      status,
      start,
      end,
      finished,
      firstCompletion: outcome.first,
      signalled: outcome.signalled,
    });
  });

  return r;
}
