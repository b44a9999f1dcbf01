import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { ZodError } from 'zod';
import { ServiceError, type ServiceErrorKind } from '../../services/errors';

/** Every API error answers `{ error: { code, message, field? } }` (SPEC). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, field?: string) => new ApiError(400, 'invalid_request', message, field);
export const notFound = (what = 'resource') => new ApiError(404, 'not_found', `${what} not found`);

/** How each kind of service error answers (the 503 is the only dependency a service reports: Temporal). */
const SERVICE_ERRORS: Record<ServiceErrorKind, { status: number; code: string }> = {
  invalid: { status: 400, code: 'invalid_request' },
  'not-found': { status: 404, code: 'not_found' },
  conflict: { status: 409, code: 'conflict' },
  unavailable: { status: 503, code: 'temporal_unavailable' },
};

function fromService(err: ServiceError): ApiError {
  const { status, code } = SERVICE_ERRORS[err.kind];
  return new ApiError(status, code, err.message, err.field);
}

export function fromZod(err: ZodError): ApiError {
  const issue = err.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : undefined;
  return new ApiError(400, 'invalid_request', issue ? `${field ? `${field}: ` : ''}${issue.message}` : 'invalid request', field);
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`));
};

/** Messages may quote the client's input (e.g. a 100 kB time zone): never echo more than this. */
const MAX_ERROR_TEXT = 1000;
const capped = (s: string) => (s.length > MAX_ERROR_TEXT ? `${s.slice(0, MAX_ERROR_TEXT - 1)}…` : s);

/** Never a stack trace in a response; unexpected errors are logged and answered as 500 internal. */
export function errorHandler(log: (msg: string, err: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof ServiceError) err = fromService(err);
    if (err instanceof ApiError) {
      res
        .status(err.status)
        .json({ error: { code: err.code, message: capped(err.message), ...(err.field ? { field: capped(err.field) } : {}) } });
      return;
    }
    const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      // body-parser and friends: malformed JSON, payload too large, …
      const code =
        err.type === 'entity.too.large'
          ? 'payload_too_large'
          : err.type === 'entity.parse.failed'
            ? 'malformed_json'
            : 'invalid_request';
      res.status(status).json({
        error: {
          code,
          message: code === 'malformed_json' ? 'request body is not valid JSON' : capped(String(err.message ?? 'bad request')),
        },
      });
      return;
    }
    log('unhandled error', err);
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
}
