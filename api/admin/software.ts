/**
 * Admin software API:
 *  - `POST /api/v1/software` (multipart/form-data): one or more `file` parts (variants of the same
 *    software, e.g. a .cab and an .exe) and the fields `name, version, kind (dme-client|other),
 *    platforms (comma-separated or a JSON array; repeated fields work too), inHouseIos?, bundleId?`.
 *    Files stream to FILES_DIR while their SHA-256 is computed; nothing is kept when the request
 *    is refused. → 201 `{ id, sha256, size, files: [{ id, fileName, format, size, sha256 }], … }`
 *    (sha256/size of the first file).
 *  - `GET /api/v1/software?limit=&cursor=`, `GET /api/v1/software/:id`.
 */
import { type RequestHandler, Router } from 'express';
import multer from 'multer';
import { formatOf, PLATFORMS, type Platform } from '../../domain/install-options';
import { hashingDiskStorage, removeQuietly, type UploadedFile } from '../../infra/files';
import { addSoftware, type FileRow, findSoftware, listSoftware, type SoftwareRow } from '../../services/software';
import type { ApiContext } from '../context';
import { ApiError, badRequest, notFound } from '../http/errors';
import { decodeCursor, encodeCursor, formBoolean, pageLimit, pathId } from '../http/validation';
import { addAuditTargets } from './admin-auth';

/** Most file variants one software may have. */
export const MAX_FILES_PER_SOFTWARE = 10;

const KINDS = ['dme-client', 'other'] as const;
const BUNDLE_ID_RE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** multer, with its errors turned into the API's JSON errors. */
function uploadFiles(filesDir: string, maxBytes: number): RequestHandler {
  const mw = multer({
    storage: hashingDiskStorage(filesDir),
    // browsers and HTTP clients send file names as raw UTF-8 (busboy's default would read them as latin1)
    defParamCharset: 'utf8',
    limits: { fileSize: maxBytes, files: MAX_FILES_PER_SOFTWARE, fields: 20, fieldSize: 64 * 1024, parts: 40 },
  }).array('file', MAX_FILES_PER_SOFTWARE);
  return (req, res, next) => {
    mw(req, res, (err?: unknown) => {
      if (!err) return next();
      if (err instanceof multer.MulterError) {
        switch (err.code) {
          case 'LIMIT_FILE_SIZE':
            return next(
              new ApiError(
                413,
                'payload_too_large',
                `file: ${err.field === 'file' && (err as any).filename ? `"${(err as any).filename}" ` : ''}is larger than the limit of ${maxBytes} bytes (SOFTWARE_MAX_BYTES)`,
                'file',
              ),
            );
          case 'LIMIT_UNEXPECTED_FILE':
            return next(
              badRequest(
                err.field === 'file'
                  ? `file: at most ${MAX_FILES_PER_SOFTWARE} files per software`
                  : `${err.field}: unexpected file; send the software files as "file" parts`,
                err.field || 'file',
              ),
            );
          case 'LIMIT_FILE_COUNT':
            return next(badRequest(`file: at most ${MAX_FILES_PER_SOFTWARE} files per software`, 'file'));
          default:
            return next(badRequest(`${err.field ? `${err.field}: ` : ''}${err.message}`, err.field));
        }
      }
      if (err instanceof Error && /multipart|boundary|unexpected end of form|malformed part/i.test(err.message)) {
        return next(badRequest(`malformed multipart/form-data body: ${err.message}`));
      }
      next(err);
    });
  };
}

function oneField(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw badRequest(`${name}: give one value`, name);
  return v;
}

function requiredText(body: Record<string, unknown>, name: string, max: number): string {
  const v = oneField(body, name)?.trim();
  if (!v) throw badRequest(`${name}: required`, name);
  if (v.length > max) throw badRequest(`${name}: at most ${max} characters`, name);
  if (CONTROL_RE.test(v)) throw badRequest(`${name}: must not contain control characters`, name);
  return v;
}

/** `platforms`: "a,b", '["a","b"]', or repeated fields; every value one of PLATFORMS. */
export function parsePlatforms(raw: unknown): Platform[] {
  const values: string[] = [];
  const take = (v: unknown) => {
    if (typeof v !== 'string') throw badRequest('platforms: give platform names', 'platforms');
    const t = v.trim();
    if (t.startsWith('[')) {
      let arr: unknown;
      try {
        arr = JSON.parse(t);
      } catch {
        throw badRequest('platforms: not a valid JSON array', 'platforms');
      }
      if (!Array.isArray(arr)) throw badRequest('platforms: not a valid JSON array', 'platforms');
      for (const x of arr) {
        if (typeof x !== 'string') throw badRequest('platforms: the JSON array must hold strings', 'platforms');
        values.push(x.trim());
      }
    } else {
      values.push(...t.split(',').map((x) => x.trim()));
    }
  };
  if (Array.isArray(raw)) raw.forEach(take);
  else if (raw !== undefined) take(raw);
  const list = values.filter((v) => v !== '');
  if (list.length === 0) throw badRequest(`platforms: required (one or more of ${PLATFORMS.join(', ')})`, 'platforms');
  for (const p of list) {
    if (!(PLATFORMS as readonly string[]).includes(p)) {
      throw badRequest(`platforms: unknown platform "${p}" (one of ${PLATFORMS.join(', ')})`, 'platforms');
    }
  }
  return [...new Set(list)] as Platform[];
}

function cleanFileName(name: string): string {
  const base = (name.split(/[\\/]/).pop() ?? '').replace(CONTROL_RE, '').trim();
  return base.slice(-255);
}

function softwareJson(s: SoftwareRow, files: FileRow[]) {
  const own = files.filter((f) => f.software_id === s.id);
  return {
    id: s.id,
    name: s.name,
    version: s.version,
    kind: s.kind,
    platforms: s.platforms,
    inHouseIos: s.in_house_ios,
    bundleId: s.bundle_id,
    sha256: own[0]?.sha256 ?? null,
    size: own[0] ? Number(own[0].size) : null,
    files: own.map((f) => ({ id: f.id, fileName: f.file_name, format: f.format, size: Number(f.size), sha256: f.sha256 })),
    createdAt: new Date(s.created_at).toISOString(),
  };
}

export function softwareRoutes({ db, config }: ApiContext): Router {
  const r = Router();

  r.post('/software', uploadFiles(config.filesDir, config.softwareMaxBytes), async (req, res) => {
    const files = ((req.files as UploadedFile[] | undefined) ?? []).slice();
    try {
      if (!req.is('multipart/form-data')) {
        throw badRequest('file: required; send multipart/form-data with one or more "file" parts', 'file');
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const name = requiredText(body, 'name', 200);
      const version = requiredText(body, 'version', 100);
      const kind = requiredText(body, 'kind', 20);
      if (!(KINDS as readonly string[]).includes(kind)) throw badRequest(`kind: must be one of ${KINDS.join(', ')}`, 'kind');
      const platforms = parsePlatforms(body.platforms);
      const inHouseIos = formBoolean(oneField(body, 'inHouseIos'), 'inHouseIos') ?? false;
      const bundleId = oneField(body, 'bundleId')?.trim() || undefined;
      if (bundleId !== undefined && (bundleId.length > 155 || !BUNDLE_ID_RE.test(bundleId))) {
        throw badRequest('bundleId: not a bundle identifier (reverse-DNS, e.g. com.example.app)', 'bundleId');
      }
      if (files.length === 0) throw badRequest('file: required (one or more "file" parts)', 'file');
      const described = files.map((f) => {
        const fileName = cleanFileName(f.originalname ?? '');
        const format = formatOf(fileName);
        if (!fileName) throw badRequest('file: every file needs a file name', 'file');
        if (!/^[a-z0-9]{1,10}$/.test(format)) {
          throw badRequest(`file: "${fileName}" has no file extension (e.g. .cab, .exe, .sisx, .ipa, .apk)`, 'file');
        }
        if (f.size === 0) throw badRequest(`file: "${fileName}" is empty`, 'file');
        return { upload: f, fileName, format };
      });
      const formats = new Set<string>();
      for (const d of described) {
        if (formats.has(d.format)) throw badRequest(`file: two files of format .${d.format}; give one per format`, 'file');
        formats.add(d.format);
      }
      if (inHouseIos) {
        if (!bundleId) throw badRequest('bundleId: required for an in-house iOS app', 'bundleId');
        if (!formats.has('ipa')) throw badRequest('file: an in-house iOS app needs an .ipa file', 'file');
        if (!platforms.includes('ios')) throw badRequest('platforms: an in-house iOS app must target ios', 'platforms');
      }

      const created = await addSoftware(db, config.filesDir, {
        name,
        version,
        kind,
        platforms,
        inHouseIos,
        bundleId,
        files: described.map((d) => ({
          tempPath: d.upload.path,
          fileName: d.fileName,
          format: d.format,
          size: d.upload.size,
          sha256: d.upload.sha256,
        })),
      });
      addAuditTargets(req, created.software.id);
      res.status(201).json(softwareJson(created.software, created.files));
    } finally {
      await Promise.all(files.map((f) => removeQuietly(f.path)));
    }
  });

  r.get('/software', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const limit = pageLimit(query);
    const cursor = decodeCursor(query, 2);
    const { software, files, nextKey } = await listSoftware(db, {
      limit,
      after: cursor ? [String(cursor[0]), String(cursor[1])] : undefined,
    });
    res.json({ software: software.map((s) => softwareJson(s, files)), nextCursor: nextKey ? encodeCursor(nextKey) : null });
  });

  r.get('/software/:id', async (req, res) => {
    const id = pathId(req.params.id, 'software');
    const found = await findSoftware(db, id);
    if (!found) throw notFound('software');
    res.json(softwareJson(found.software, found.files));
  });

  return r;
}
