/**
 * What a service refuses, in its own words: the API renders each kind as its JSON error (api/http/errors.ts),
 * a tool prints the message. `field` names the request field at fault (SPEC: `{ error: { field } }`).
 */
export type ServiceErrorKind = 'invalid' | 'not-found' | 'conflict' | 'unavailable';

export class ServiceError extends Error {
  constructor(
    readonly kind: ServiceErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** The request cannot be carried out as given (a 400). */
export const invalid = (message: string, field?: string) => new ServiceError('invalid', message, field);
/** e.g. `notFound('rollout')`: "rollout not found". */
export const notFound = (what: string) => new ServiceError('not-found', `${what} not found`);
/** The request clashes with the current state (a 409). */
export const conflict = (message: string, field?: string) => new ServiceError('conflict', message, field);
/** The workflow service could not be reached: retry later (a 503). */
export const unavailable = (message: string) => new ServiceError('unavailable', message);

/**
 * Runs a keyset-paged list query: a forged cursor holding a malformed uuid or timestamp, which
 * PostgreSQL refuses (22P02, 22007, 22008), is the client's error naming `cursor`.
 */
export async function pageWithCursor<T>(query: PromiseLike<T>): Promise<T> {
  try {
    return await query;
  } catch (err: any) {
    if (err?.code === '22P02' || err?.code === '22007' || err?.code === '22008') {
      throw invalid('cursor: not a cursor returned by this list', 'cursor');
    }
    throw err;
  }
}
