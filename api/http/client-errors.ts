/**
 * Requests Node's HTTP parser refuses before express sees them — a request line or headers over
 * `maxHeaderSize` (16 KiB: a huge URL or cookie), a malformed request, a header timeout — get the
 * same JSON error body as every other API error instead of Node's bare status line.
 */
import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

interface ParserError extends Error {
  code?: string;
}

/** The status and error code for a parser error; undefined when the client is gone (no answer). */
function clientErrorResponse(err: ParserError): { status: number; code: string; message: string } | undefined {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'request line and headers exceed 16 KiB (is the URL too long?)' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    default:
      return { status: 400, code: 'malformed_request', message: 'the request is not valid HTTP/1.1' };
  }
}

/** The raw HTTP/1.1 response written on the socket (the connection is closed after it). */
function clientErrorBytes(r: { status: number; code: string; message: string }): string {
  const body = JSON.stringify({ error: { code: r.code, message: r.message } });
  return [
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

export function answerClientErrorsAsJson(server: Server): void {
  server.on('clientError', (err: ParserError, socket: Duplex) => {
    const r = clientErrorResponse(err);
    // A response already under way on this keep-alive connection cannot be followed by another.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!r || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorBytes(r));
  });
}
