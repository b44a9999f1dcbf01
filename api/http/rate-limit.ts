/**
 * Rate limits of the device-facing endpoints (`/api/v1/device/*` and the ticket links `/d/*`),
 * DEVICE_RATE_LIMIT (default `120/min`, `off` disables): token buckets, in memory, per API instance.
 *
 *  - One bucket per CREDENTIAL: the device token (`Authorization: Bearer …`, kept as its SHA-256) on
 *    /api/v1/device, the ticket on /d. A fleet behind one NAT address is not throttled as a whole;
 *    a single device or link that hammers the server is.
 *  - One bucket per client IP for requests WITHOUT a credential and for requests that FAILED
 *    authentication (401, or 404 for an unknown ticket): guessing tokens or tickets costs the
 *    guesser's address its budget, whatever token it makes up next. While that bucket is empty, every
 *    request of that address to these endpoints is refused before authentication.
 *  - A refused request: 429 JSON `{ error: { code: "rate_limited", message } }` with `Retry-After`
 *    (seconds until the bucket holds a token again).
 * Each bucket holds `limit` tokens (the burst) and refills `limit` per window. Memory is bounded: full
 * buckets are forgotten (a full bucket is the same as no bucket) and at most `maxKeys` are kept.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { RateLimitSetting } from '../../infra/config';
import { bearer } from '../admin/admin-auth';
import { ApiError } from './errors';

export interface TokenBucketOptions {
  /** Tokens per window, also the bucket's capacity (burst). */
  limit: number;
  windowMs: number;
  /** Most buckets kept in memory (default 100,000). */
  maxKeys?: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets keyed by string. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly opts: TokenBucketOptions) {
    if (!(Number.isFinite(opts.limit) && opts.limit >= 1)) throw new Error('rate limit: limit must be at least 1');
    if (!(Number.isFinite(opts.windowMs) && opts.windowMs > 0)) throw new Error('rate limit: window must be positive');
    this.ratePerMs = opts.limit / opts.windowMs;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.lastSweep = this.now();
  }

  get size(): number {
    return this.buckets.size;
  }

  private current(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.opts.limit, at: now };
    const tokens = Math.min(this.opts.limit, b.tokens + Math.max(0, now - b.at) * this.ratePerMs);
    return { tokens, at: now };
  }

  /** Would `take` succeed? (Consumes nothing.) */
  peek(key: string): TakeResult {
    const now = this.now();
    const b = this.current(key, now);
    if (b.tokens >= 1) return { ok: true, remaining: Math.floor(b.tokens) };
    return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / this.ratePerMs) };
  }

  /** Takes one token; refused (nothing taken) when the bucket holds less than one. */
  take(key: string): TakeResult {
    const now = this.now();
    this.sweep(now);
    const b = this.current(key, now);
    if (b.tokens < 1) {
      this.store(key, b);
      return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / this.ratePerMs) };
    }
    b.tokens -= 1;
    this.store(key, b);
    return { ok: true, remaining: Math.floor(b.tokens) };
  }

  private store(key: string, b: Bucket): void {
    this.buckets.delete(key); // re-insert: Map order = least recently used first
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }

  /** Forgets buckets that have refilled completely (at most once per window). */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.opts.windowMs) return;
    this.lastSweep = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.ratePerMs >= this.opts.limit) this.buckets.delete(key);
    }
  }
}

const TICKET_RE = /^[A-Za-z0-9_-]{8,200}$/;
const hashed = (s: string) => createHash('sha256').update(s).digest('base64url');

/** The credential of a device request: its bearer token, or the ticket of a /d link. */
function credentialOf(req: Request): string | undefined {
  if (req.baseUrl === '/d') {
    const ticket = req.path.split('/')[1] ?? '';
    return TICKET_RE.test(ticket) ? `t:${ticket}` : undefined;
  }
  const token = bearer(req.header('authorization'));
  return token && token.length <= 512 ? `d:${hashed(token)}` : undefined;
}

function describe(setting: RateLimitSetting): string {
  const unit =
    setting.windowMs === 1_000
      ? 'second'
      : setting.windowMs === 60_000
        ? 'minute'
        : setting.windowMs === 3_600_000
          ? 'hour'
          : `${setting.windowMs} ms`;
  return `${setting.limit} requests per ${unit}`;
}

function refuse(res: Parameters<RequestHandler>[1], retryAfterMs: number, message: string): ApiError {
  res.set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  return new ApiError(429, 'rate_limited', message);
}

/**
 * The middleware (mount on `['/api/v1/device', '/d']`). `setting` undefined: no limit.
 */
export function deviceRateLimit(setting: RateLimitSetting | undefined, opts: { now?: () => number } = {}): RequestHandler {
  if (!setting) return (_req, _res, next) => next();
  const credentials = new TokenBuckets({ ...setting, now: opts.now });
  const addresses = new TokenBuckets({ ...setting, now: opts.now });
  const what = describe(setting);
  return (req, res, next) => {
    const ip = `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
    const blocked = addresses.peek(ip);
    if (!blocked.ok) {
      return next(
        refuse(
          res,
          blocked.retryAfterMs,
          `too many unauthenticated or failed requests from this address (at most ${what}); retry later`,
        ),
      );
    }
    const credential = credentialOf(req);
    if (!credential) {
      const r = addresses.take(ip);
      if (!r.ok)
        return next(refuse(res, r.retryAfterMs, `too many requests without credentials from this address (at most ${what})`));
      return next();
    }
    const r = credentials.take(credential);
    if (!r.ok) {
      return next(
        refuse(
          res,
          r.retryAfterMs,
          `too many requests for this ${credential.startsWith('t:') ? 'download link' : 'device'} (at most ${what})`,
        ),
      );
    }
    // a failed authentication costs the address a token as well
    res.once('finish', () => {
      if (res.statusCode === 401 || (res.statusCode === 404 && credential.startsWith('t:'))) addresses.take(ip);
    });
    next();
  };
}
