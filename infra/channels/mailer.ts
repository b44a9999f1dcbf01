/**
 * Mailer (domain/ports.ts) over nodemailer SMTP: admin notifications (P3: rollout completed, failure
 * threshold crossed), as plain text plus optional HTML alternative.
 *
 * Idempotency: the Message-ID is derived from the idempotency key (a retried send produces the same
 * Message-ID), and keys sent by this instance are remembered (`duplicate: true`, nothing resent).
 * Errors: SMTP 5xx / invalid addresses → `MailRejectedError` (non-retryable); 4xx, connection
 * problems, timeouts → `MailTransportError` (retryable).
 */
import type { Transporter } from 'nodemailer';
import type { Mailer, MailMessage } from '../../domain/ports';
import { MailRejectedError, MailTransportError } from './errors';
import { KeyedOnce } from './idempotency';
import { classifySmtpError, messageIdFor, smtpResponse, smtpStatus, smtpTransport } from './smtp';

export interface SmtpMailerConfig {
  /**
   * SMTP server URL, e.g. `smtp://user:pass@mail.example.com:587` or `smtps://…:465` (env SMTP_URL).
   * Unset: mails are rendered but not sent (nodemailer JSON transport) — fine for `npm start`.
   */
  url?: string;
  /** From address, e.g. `DeviceRollout <rollout@example.com>` (env MAIL_FROM). */
  from: string;
  /** A ready nodemailer transport instead of `url` (tests, pooled transports). */
  mailTransport?: Transporter;
  /** How many sent idempotency keys to remember; default 10000. */
  idempotencyCacheSize?: number;
}

type SendResult = { messageId?: string; duplicate?: boolean };

export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  private readonly sent: KeyedOnce<SendResult>;

  constructor(private readonly config: SmtpMailerConfig) {
    if (!config.from) throw new Error('mailer: from (MAIL_FROM) is required');
    this.transport = config.mailTransport ?? smtpTransport(config.url);
    this.sent = new KeyedOnce(config.idempotencyCacheSize ?? 10_000);
  }

  send(msg: MailMessage): Promise<SendResult> {
    return this.sent.run(msg.idempotencyKey, async () => {
      const to = msg.to.map((a) => a.trim()).filter(Boolean);
      if (to.length === 0) throw new MailRejectedError('mail has no recipients', { code: 'invalid', transport: 'smtp' });
      try {
        const info = await this.transport.sendMail({
          from: this.config.from,
          to,
          subject: msg.subject,
          text: msg.text,
          ...(msg.html === undefined ? {} : { html: msg.html }),
          messageId: messageIdFor(msg.idempotencyKey, this.config.from),
          headers: { 'X-Idempotency-Key': msg.idempotencyKey },
        });
        return { messageId: typeof info.messageId === 'string' ? info.messageId : undefined };
      } catch (err) {
        const kind = classifySmtpError(err);
        const details = {
          transport: 'smtp',
          status: smtpStatus(err),
          response: smtpResponse(err),
          cause: err,
        };
        const text = `sending mail "${msg.subject}" failed: ${(err as Error).message}`;
        if (kind === 'rejected') throw new MailRejectedError(text, { ...details, code: 'rejected' });
        throw new MailTransportError(text, { ...details, code: kind });
      }
    });
  }

  /** Checks the connection and credentials (SMTP transports only). */
  async verify(): Promise<void> {
    await this.transport.verify();
  }

  close(): void {
    this.transport.close();
  }
}
