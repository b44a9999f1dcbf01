/**
 * Building blocks of the OpenAPI document's operations: references to component schemas, JSON
 * bodies and responses, path/query parameters, the security requirements and the error responses
 * every route of a kind shares.
 */

export type Json = Record<string, unknown>;

export const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** A JSON response whose body is the component schema `id`. */
export const json = (id: string, description: string) => ({ description, content: { 'application/json': { schema: ref(id) } } });

/** An error response (`{ error: { code, message, field? } }`). */
export const error = (description: string) => json('Error', description);

/** A required JSON request body of the component schema `id`. */
export const body = (id: string, required = true) => ({ required, content: { 'application/json': { schema: ref(id) } } });

export const pathParam = (name: string, description: string, schema: Json = { type: 'string' }) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema,
});

/** `{id}`: a uuid; anything else answers 404 like an unknown id. */
export const idParam = (what: string) => pathParam('id', `${what} id`, { type: 'string', format: 'uuid' });

export const queryParam = (name: string, schema: Json, description?: string) => ({
  name,
  in: 'query',
  schema,
  ...(description ? { description } : {}),
});

export const limitParam = (dflt: number, max: number) =>
  queryParam('limit', { type: 'integer', minimum: 1, maximum: max, default: dflt }, 'Page size');

export const cursorParam = queryParam('cursor', { type: 'string' }, '`nextCursor` of the previous page');

// Security requirements (components.securitySchemes in api/openapi.ts).
export const ADMIN = [{ adminKey: [] }];
export const DEVICE = [{ deviceToken: [] }];
export const PUBLIC: Json[] = [];

/** What the admin router (api/admin/admin-auth.ts `requireAdmin`) answers before any admin route runs. */
export const adminErrors = {
  '401': error('Missing or invalid admin key'),
  '403': error(
    "Revoked or expired admin key, or `forbidden`: the request needs a role beyond the key's (the message names it; see `x-required-role`)",
  ),
};

/** What the JSON body parser and depth limit of api/app.ts answer for any JSON body. */
export const jsonBodyErrors = {
  '413': error('JSON body larger than 1 MB'),
};

/** DEVICE_RATE_LIMIT on `/api/v1/device/*` and `/d/*` (api/rate-limit.ts). */
export const rateLimited = {
  '429': {
    ...error('Too many requests for this device token / download link, or from this address (DEVICE_RATE_LIMIT)'),
    headers: { 'Retry-After': { description: 'Seconds until a request is accepted again', schema: { type: 'integer' } } },
  },
};

/** What `requireDevice` (api/device/device-auth.ts) and the rate limit answer before any device route runs. */
export const deviceErrors = {
  '401': error('Missing or invalid device token'),
  ...rateLimited,
};
