/**
 * Shared request validation: zod parsing into 400s naming the field, uuid path ids (malformed → 404
 * like an unknown id), opaque cursors and page limits.
 */
import { z } from 'zod';
import { isUuid } from '../../domain/uuid';
import { ApiError, badRequest, fromZod, notFound } from './errors';

/** Parses with a zod schema; a failure is a 400 naming the first offending field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw fromZod(r.error);
  return r.data;
}

/** A path id: anything that is not a uuid cannot exist, so it is the same 404 as an unknown id. */
export function pathId(value: unknown, what: string): string {
  if (!isUuid(value)) throw notFound(what);
  return value.toLowerCase();
}

/** A single query-string value (arrays from repeated parameters are refused). */
export function queryValue(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw badRequest(`${name}: give one value`, name);
  return v;
}

/** `limit` query parameter: integer 1…max, default `dflt`. */
export function pageLimit(query: Record<string, unknown>, dflt = 50, max = 500): number {
  const raw = queryValue(query, 'limit');
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw)) throw badRequest(`limit: must be an integer from 1 to ${max}`, 'limit');
  const n = Number(raw);
  if (n < 1 || n > max) throw badRequest(`limit: must be an integer from 1 to ${max}`, 'limit');
  return n;
}

/** Opaque cursor: base64url of a JSON array of key values. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Decodes a cursor made by `encodeCursor` with `arity` string/number parts; 400 `cursor` otherwise. */
export function decodeCursor(query: Record<string, unknown>, arity: number): (string | number)[] | undefined {
  const raw = queryValue(query, 'cursor');
  if (raw === undefined) return undefined;
  const invalid = () => new ApiError(400, 'invalid_request', 'cursor: not a cursor returned by this list', 'cursor');
  if (!/^[A-Za-z0-9_-]+$/.test(raw) || raw.length > 1000) throw invalid();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw invalid();
  }
  return key;
}

/** Software name → version maps (device inventory). */
export const inventorySchema = z
  .record(z.string().trim().min(1, 'software name must not be empty').max(200), z.string().trim().min(1).max(100))
  .refine((r) => Object.keys(r).length <= 1000, 'at most 1000 entries');

/** An optional boolean that also takes the strings of a form field ("true", "1", "yes", "on", …). */
export function formBoolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
  }
  throw badRequest(`${field}: must be true or false`, field);
}
