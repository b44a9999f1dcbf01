/**
 * JSON bodies nested deeper than MAX_JSON_DEPTH are refused (400, naming the top-level field).
 * A 1 MB body may hold ~500,000 nested arrays; JSON.parse copes, but JSON.stringify (storing `info`,
 * logging `detail`), zod and PostgreSQL's jsonb recurse and fail (stack overflow → 500). No request
 * of this API needs more than a few levels.
 */
import type { RequestHandler } from 'express';
import { badRequest } from './errors';

const MAX_JSON_DEPTH = 64;

/** The first top-level key (or index) under which `value` is nested deeper than `max`; null if none. */
function tooDeep(value: unknown, max = MAX_JSON_DEPTH): { field: string | undefined } | null {
  if (value === null || typeof value !== 'object') return null;
  // iterative: the point is not to recurse on hostile input
  const stack: Array<{ v: object; depth: number; top: string | undefined }> = [{ v: value, depth: 1, top: undefined }];
  while (stack.length) {
    const { v, depth, top } = stack.pop()!;
    if (depth > max) return { field: top };
    for (const [k, child] of Object.entries(v)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1, top: top ?? k });
    }
  }
  return null;
}

/** After the JSON body parser. */
export function jsonDepthLimit(max = MAX_JSON_DEPTH): RequestHandler {
  return (req, _res, next) => {
    const deep = tooDeep(req.body, max);
    if (!deep) return next();
    next(badRequest(`${deep.field ? `${deep.field}: ` : ''}the JSON body is nested more than ${max} levels deep`, deep.field));
  };
}
