/**
 * The simulator's HTTP client: JSON requests against the DeviceRollout API with a bounded number of
 * retries (connection errors, 429, 502–504: a device retries later, like a real one), a timeout per
 * request, latency samples per endpoint, and loopback only (the simulator never talks to anything
 * but the API under test; links in messages are rewritten to the API's origin).
 *
 * node:http over keep-alive agents, not the global fetch (undici): a small JSON request costs about
 * a sixth of the CPU, and the simulator's CPU is counted in the benchmark's CPU per install (issue 17).
 */
import { type ClientRequest, Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Limiter } from './pool';
import type { LatencyRecorder } from './stats';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly endpoint: string,
    readonly body: unknown,
  ) {
    const msg = (body as { error?: { message?: string } } | undefined)?.error?.message;
    super(`${endpoint}: HTTP ${status}${msg ? ` ${msg}` : ''}`);
  }
}

export interface ApiClientOptions {
  /** The API, or several instances of it separated by commas: requests and links go to each in turn. */
  baseUrl: string;
  adminKey?: string;
  latency?: LatencyRecorder;
  /** Every request goes through it (bounded concurrency). */
  limiter?: Limiter;
  timeoutMs?: number;
  /** Attempts after the first one for retryable failures (default 4). */
  retries?: number;
  /** Allow a non-loopback API (off: the simulator is for loopback only). */
  allowRemote?: boolean;
}

export interface RequestOptions {
  body?: unknown;
  /** Bearer token; undefined: the admin key; null: none. */
  token?: string | null;
  /** Label of the latency series, e.g. "POST /api/v1/device/sync". */
  endpoint?: string;
  /** Retry connection errors, 429 and 502–504 (default true). */
  retry?: boolean;
  headers?: Record<string, string>;
}

/** One request of `ApiClient.send`/`open`. */
interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Fails the request (a TimeoutError) unless its whole answer arrived within this many ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface RawResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: Buffer;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** Node's raw response headers as WHATWG `Headers`. */
export function toHeaders(raw: string[]): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i] as string, raw[i + 1] as string);
  return h;
}

function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

export class ApiClient {
  /** The first API instance (admin requests that must see one instance, e.g. uploads). */
  readonly baseUrl: string;
  /** Every API instance (`--api a,b`); requests are spread over them in turn. */
  readonly baseUrls: string[];
  private turn = 0;
  readonly adminKey?: string;
  readonly latency?: LatencyRecorder;
  private readonly limiter?: Limiter;
  private readonly timeoutMs: number;
  private readonly retries: number;
  /** Keep-alive sockets per API instance; the limiter bounds the requests in flight, so no cap with one. */
  private readonly agents: { http: HttpAgent; https: HttpsAgent };

  constructor(opts: ApiClientOptions) {
    this.baseUrls = opts.baseUrl
      .split(',')
      .map((u) => u.trim().replace(/\/+$/, ''))
      .filter(Boolean);
    this.baseUrl = this.baseUrls[0] ?? '';
    for (const u of this.baseUrls) {
      if (!opts.allowRemote && !isLoopbackUrl(u)) {
        throw new Error(`the simulator talks to a loopback API only (127.0.0.1, localhost, ::1), not ${u}`);
      }
    }
    this.adminKey = opts.adminKey;
    this.latency = opts.latency;
    this.limiter = opts.limiter;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 4;
    // idle sockets closed after 4 s, before the server's 5 s keep-alive timeout (as undici does)
    const agent = { keepAlive: true, maxSockets: opts.limiter ? Number.POSITIVE_INFINITY : 64, timeout: 4_000 };
    this.agents = { http: new HttpAgent(agent), https: new HttpsAgent(agent) };
  }

  /** A link from a message or a sync answer, pointed at the API under test (same path and query). */
  rewrite(link: string): string {
    const u = new URL(link);
    const base = new URL(this.nextBase());
    u.protocol = base.protocol;
    u.host = base.host;
    return u.toString();
  }

  /** `fetch` for code that does its own requests (the DM client): timed, bounded, loopback-checked. */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    if (!isLoopbackUrl(url)) throw new Error(`refusing a non-loopback request to ${url}`);
    const method = init?.method ?? 'GET';
    const endpoint = `${method} ${endpointOf(new URL(url).pathname)}`;
    const headers = Object.fromEntries(new Headers(init?.headers));
    let body = init?.body ?? undefined;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      const encoded = new Response(body); // FormData, Blob, …: encoded as fetch would
      const type = encoded.headers.get('content-type');
      if (type && !headers['content-type']) headers['content-type'] = type;
      body = Buffer.from(await encoded.arrayBuffer());
    }
    const timing = init?.signal ? { signal: init.signal } : { timeoutMs: this.timeoutMs };
    return this.run(async () => {
      const t0 = performance.now();
      try {
        const res = await this.send(url, { method, headers, body: body as string | Uint8Array | undefined, ...timing });
        this.latency?.record(endpoint, performance.now() - t0, res.status);
        return new Response(res.status === 204 || res.status === 304 ? null : res.body, {
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
        });
      } catch (err) {
        this.latency?.record(endpoint, performance.now() - t0, 0);
        throw err;
      }
    });
  };

  /**
   * Starts a request through the keep-alive agent; resolves at the response's head, its body a stream
   * for the caller to read or destroy. `signal` aborts it, also midway through the body.
   */
  open(url: string, o: SendOptions = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      this.start(url, o, resolve).on('error', reject);
    });
  }

  /** A request with its whole answer read: no limiter, no retries, no latency sample. */
  send(url: string, o: SendOptions = {}): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      const req = this.start(url, o, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          const headers = toHeaders(res.rawHeaders);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers, body: Buffer.concat(chunks) });
        });
      });
      req.on('error', fail);
      if (o.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          fail(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
          req.destroy();
        }, o.timeoutMs);
      }
    });
  }

  private start(url: string, o: SendOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
    const u = new URL(url);
    const tls = u.protocol === 'https:';
    const agent = tls ? this.agents.https : this.agents.http;
    const req = (tls ? httpsRequest : httpRequest)(
      u,
      { method: o.method, headers: o.headers, agent, signal: o.signal },
      onResponse,
    );
    req.end(o.body);
    return req;
  }

  /** The next API instance in turn. */
  private nextBase(): string {
    return this.baseUrls[this.turn++ % this.baseUrls.length] ?? this.baseUrl;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.limiter ? this.limiter(task) : task();
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = path.startsWith('http') ? path : `${this.nextBase()}${path}`;
    const endpoint = opts.endpoint ?? `${method} ${endpointOf(new URL(url).pathname)}`;
    const headers: Record<string, string> = { ...opts.headers };
    const auth = opts.token === undefined ? this.adminKey : opts.token;
    if (auth) headers.authorization = `Bearer ${auth}`;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const retry = opts.retry ?? true;
    let lastErr: unknown;
    for (let attempt = 0; attempt <= (retry ? this.retries : 0); attempt++) {
      if (attempt > 0) await sleep(Math.min(5_000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
      try {
        const res = await this.run(async () => {
          const t0 = performance.now();
          try {
            const r = await this.send(url, { method, headers, body, timeoutMs: this.timeoutMs });
            const text = r.body.toString('utf8');
            this.latency?.record(endpoint, performance.now() - t0, r.status);
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              /* not JSON */
            }
            return { status: r.status, body: parsed as T, headers: r.headers };
          } catch (err) {
            this.latency?.record(endpoint, performance.now() - t0, 0);
            throw err;
          }
        });
        if (retry && RETRY_STATUSES.has(res.status) && attempt < this.retries) {
          lastErr = new HttpError(res.status, endpoint, res.body);
          continue;
        }
        return res;
      } catch (err) {
        lastErr = err;
        if (!retry) break;
      }
    }
    throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  }

  /** Like `request`, but a status outside `ok` throws HttpError. */
  async expect<T = any>(ok: number[], method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const res = await this.request<T>(method, path, opts);
    if (!ok.includes(res.status)) throw new HttpError(res.status, opts.endpoint ?? `${method} ${path}`, res.body);
    return res;
  }
}

/** A path as a latency series label: ids and tickets replaced by placeholders. */
export function endpointOf(pathname: string): string {
  return pathname
    .replace(/^\/d\/[^/]+/, '/d/:ticket')
    .replace(/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '/:id');
}
