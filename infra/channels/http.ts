/**
 * A minimal HTTP client for the gateways (node:http/https, one connection per request).
 *
 * Not `fetch`: Kannel's PPG copies the HTTP request headers of a push submission into the WSP
 * headers of the pushed message, so every extra header (User-Agent, Accept-*, Sec-Fetch-* …) would
 * cost SMS bytes on the air. Here only the headers the caller passes (plus Host and Content-Length)
 * are sent.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Whole-request timeout (connect + answer). */
  timeoutMs: number;
}

export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError';
  /**
   * The request had been written in full when the failure came (a cut connection, a timeout waiting
   * for the answer): the server may have acted on it. False for a refused connection or a DNS error.
   */
  readonly requestSent: boolean;

  constructor(
    message: string,
    readonly errorCode?: string,
    options?: { cause?: unknown; requestSent?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.requestSent = options?.requestSent ?? false;
  }
}

export function httpRequest(url: URL, opts: HttpRequestOptions): Promise<HttpResponse> {
  const lib = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!lib) return Promise.reject(new HttpTransportError(`unsupported URL scheme ${url.protocol}`));
  const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
  const headers: Record<string, string> = { ...opts.headers };
  if (body) headers['Content-Length'] = String(body.length);
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let requestSent = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = lib.request(
      url,
      {
        method: opts.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) =>
          fail(
            new HttpTransportError(`reading the answer of ${redact(url)}: ${err.message}`, errCode(err), {
              cause: err,
              requestSent: true,
            }),
          ),
        );
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const buf = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text: () => buf.toString('utf8') });
        });
      },
    );
    const timer = setTimeout(
      () =>
        fail(new HttpTransportError(`${redact(url)} did not answer within ${opts.timeoutMs} ms`, 'ETIMEDOUT', { requestSent })),
      opts.timeoutMs,
    );
    req.on('finish', () => {
      requestSent = true;
    });
    req.on('error', (err) =>
      fail(new HttpTransportError(`${redact(url)}: ${err.message}`, errCode(err), { cause: err, requestSent })),
    );
    req.end(body);
  });
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The URL without query string and credentials, for error messages and logs. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
