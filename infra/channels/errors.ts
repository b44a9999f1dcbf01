/**
 * Errors of the push and mail channels.
 *
 * Retry contract (for the Temporal activities that call a channel):
 *  - `PushRejectedError` / `MailRejectedError`: the gateway refused this message for good (bad number,
 *    bad credentials, unsupported by the transport, content it cannot transform …). Retrying the same
 *    request cannot succeed, so `nonRetryable` is true.
 *  - `PushGatewayError` / `MailTransportError` (and any other error): the gateway is down, timed out or
 *    answered 5xx/temporary failure — retryable.
 * Activities around a send write `catch (err) { throw toActivityFailure(err); }`.
 */
import { ApplicationFailure } from '@temporalio/common';

type ChannelErrorCode =
  /** The gateway could not be reached (connection refused, DNS): the request never got to it. */
  | 'unreachable'
  /**
   * The request got to the gateway but its answer did not come back (connection cut, timeout): the
   * gateway may have accepted the message. Also a send held back while the durable record waits for
   * the delivery report of such an attempt (durable.ts).
   */
  | 'unanswered'
  /** The gateway answered with a temporary failure (HTTP 5xx, PAP 3000/4xxx, SMTP 4xx). */
  | 'temporary'
  /** The gateway answered something we do not understand. */
  | 'bad-response'
  /** Refused for good (HTTP 4xx, PAP 2xxx, SMTP 5xx). */
  | 'rejected'
  /** The message itself is invalid (e.g. the MSISDN) — never sent. */
  | 'invalid'
  /** The transport cannot carry this kind of message (e.g. WAP push over email-to-SMS). */
  | 'unsupported';

interface ChannelErrorDetails {
  code: ChannelErrorCode;
  /** Which transport raised it (kannel, email-sms, smtp …). */
  transport: string;
  /** HTTP status or SMTP response code of the gateway's answer, if there was one. */
  status?: number;
  /** The gateway's answer (trimmed), if there was one. */
  response?: string;
  /** PAP response-result code (PPG answers only). */
  papCode?: number;
  cause?: unknown;
}

abstract class ChannelError extends Error {
  abstract readonly nonRetryable: boolean;
  readonly code: ChannelErrorCode;
  readonly transport: string;
  readonly status?: number;
  readonly response?: string;
  readonly papCode?: number;

  constructor(message: string, details: ChannelErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.transport = details.transport;
    this.status = details.status;
    this.response = details.response;
    this.papCode = details.papCode;
  }
}

/** Non-retryable: the push gateway refused the message (4xx, PAP 2xxx) or it cannot be sent at all. */
export class PushRejectedError extends ChannelError {
  override readonly name = 'PushRejectedError';
  readonly nonRetryable = true;
}

/** Retryable: the push gateway is down, timed out, or failed temporarily (5xx). */
export class PushGatewayError extends ChannelError {
  override readonly name = 'PushGatewayError';
  readonly nonRetryable = false;
}

/** Non-retryable: the SMTP server refused the mail for good (5xx), or the mail is invalid. */
export class MailRejectedError extends ChannelError {
  override readonly name = 'MailRejectedError';
  readonly nonRetryable = true;
}

/** Retryable: the SMTP server is unreachable or failed temporarily (4xx). */
export class MailTransportError extends ChannelError {
  override readonly name = 'MailTransportError';
  readonly nonRetryable = false;
}

/** True for channel errors that a retry cannot fix (the rejected classes). */
export function isNonRetryableChannelError(err: unknown): err is PushRejectedError | MailRejectedError {
  return err instanceof ChannelError && err.nonRetryable;
}

/**
 * The error an activity throws for a failed send: a channel error that a retry cannot fix becomes a
 * non-retryable ApplicationFailure whose type is the error's name (`PushRejectedError` …); any other
 * error is returned as it is, so Temporal retries the activity.
 */
export function toActivityFailure(err: unknown): unknown {
  return isNonRetryableChannelError(err) ? ApplicationFailure.nonRetryable(err.message, err.name) : err;
}
