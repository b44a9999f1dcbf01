/** Shared SMTP plumbing of the mailer and the email-to-SMS channel (nodemailer). */
import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';

export type SmtpFailure = 'rejected' | 'temporary' | 'unreachable';

/**
 * nodemailer transport from an SMTP URL: `smtp://[user:pass@]host[:port]` (STARTTLS when offered),
 * `smtps://…:465` (implicit TLS); nodemailer reads options from the query string too, e.g.
 * `?ignoreTLS=true` or `?tls.rejectUnauthorized=false`. Without a URL: nodemailer's JSON transport
 * — nothing leaves the process (the message is only rendered), which keeps `npm start` self-contained.
 */
export function smtpTransport(url: string | undefined): Transporter {
  if (!url) return nodemailer.createTransport({ jsonTransport: true });
  if (!/^smtps?:\/\//i.test(url)) throw new Error(`SMTP URL must start with smtp:// or smtps://, got "${redactSmtpUrl(url)}"`);
  return nodemailer.createTransport(url);
}

/** Message-ID derived from the idempotency key, so downstream systems can drop duplicates. */
export function messageIdFor(idempotencyKey: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'device-rollout.invalid';
  return `<${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}@${domain}>`;
}

/**
 * 5xx replies (and envelope/message errors nodemailer raises before talking) are final; 4xx replies
 * are temporary; connection/TLS/timeout problems mean the server is unreachable.
 */
export function classifySmtpError(err: unknown): SmtpFailure {
  const e = err as { responseCode?: unknown; code?: unknown } | null;
  const status = typeof e?.responseCode === 'number' ? e.responseCode : undefined;
  if (status !== undefined) return status >= 500 ? 'rejected' : 'temporary';
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'EAUTH') return 'rejected';
  return 'unreachable';
}

export function smtpStatus(err: unknown): number | undefined {
  const s = (err as { responseCode?: unknown } | null)?.responseCode;
  return typeof s === 'number' ? s : undefined;
}

export function smtpResponse(err: unknown): string | undefined {
  const r = (err as { response?: unknown } | null)?.response;
  return typeof r === 'string' ? r : undefined;
}

function redactSmtpUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
