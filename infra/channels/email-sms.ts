/**
 * PushChannel that sends SMS as email to an email-to-SMS gateway: `<msisdn>@<domain>`, the SMS text
 * as the plain-text body (nodemailer SMTP). WAP and binary pushes cannot be carried by email: they
 * fail with `PushRejectedError` (code `unsupported`) — choose SMS push (or the kannel transport).
 *
 * Errors: SMTP 5xx → `PushRejectedError`; 4xx, unreachable, timeouts → `PushGatewayError` (retryable).
 * Idempotency: Message-ID derived from the key + per-instance memory of sent keys.
 */
import type { Transporter } from 'nodemailer';
import { normalizeMsisdn } from '../../domain/msisdn';
import type { BinaryPushMessage, DeliveryReceipt, PushChannel, SmsMessage, WapPushMessage } from '../../domain/ports';
import { PushGatewayError, PushRejectedError } from './errors';
import { KeyedOnce } from './idempotency';
import { classifySmtpError, messageIdFor, smtpResponse, smtpStatus, smtpTransport } from './smtp';

const TRANSPORT = 'email-sms';

export interface EmailSmsChannelConfig {
  /** Domain of the email-to-SMS gateway: mail goes to `<msisdn>@<domain>` (env EMAIL_SMS_DOMAIN). */
  domain: string;
  /** From address; gateways often authorise by it (env EMAIL_SMS_FROM, default MAIL_FROM). */
  from: string;
  /** SMTP URL (env EMAIL_SMS_SMTP_URL, default SMTP_URL); unset: rendered only (JSON transport). */
  smtpUrl?: string;
  /** A ready nodemailer transport instead of `smtpUrl` (tests, pooled transports). */
  mailTransport?: Transporter;
  /**
   * Local part of the address: `digits` (default; `+4915…` → `4915…`), `plus` (`+4915…`) or
   * `zeros` (`004915…`) (env EMAIL_SMS_LOCAL_PART).
   */
  localPart?: 'digits' | 'plus' | 'zeros';
  /** Subject; most gateways prepend it to the SMS, so the default is empty (env EMAIL_SMS_SUBJECT). */
  subject?: string;
  idempotencyCacheSize?: number;
}

export class EmailSmsPushChannel implements PushChannel {
  private readonly transport: Transporter;
  private readonly sent: KeyedOnce<DeliveryReceipt>;

  constructor(private readonly config: EmailSmsChannelConfig) {
    if (!config.domain || !/^[A-Za-z0-9.-]+$/.test(config.domain))
      throw new Error(`email-sms channel: domain (EMAIL_SMS_DOMAIN) "${config.domain ?? ''}" is not a mail domain`);
    if (!config.from) throw new Error('email-sms channel: from (EMAIL_SMS_FROM or MAIL_FROM) is required');
    this.transport = config.mailTransport ?? smtpTransport(config.smtpUrl);
    this.sent = new KeyedOnce(config.idempotencyCacheSize ?? 10_000);
  }

  /** The email address an SMS to `msisdn` goes to. */
  addressFor(msisdn: string): string {
    const n = normalizeMsisdn(msisdn);
    if (!n)
      throw new PushRejectedError(`"${msisdn}" is not an MSISDN in international format (+<country><number>)`, {
        code: 'invalid',
        transport: TRANSPORT,
      });
    const digits = n.slice(1);
    const local = this.config.localPart === 'plus' ? `+${digits}` : this.config.localPart === 'zeros' ? `00${digits}` : digits;
    return `${local}@${this.config.domain}`;
  }

  sendSms(msg: SmsMessage): Promise<DeliveryReceipt> {
    return this.sent.run(msg.idempotencyKey, async () => {
      const to = this.addressFor(msg.to);
      try {
        const info = await this.transport.sendMail({
          from: this.config.from,
          to,
          subject: this.config.subject ?? '',
          text: msg.text,
          messageId: messageIdFor(msg.idempotencyKey, this.config.from),
          headers: { 'X-Idempotency-Key': msg.idempotencyKey },
        });
        return { transport: TRANSPORT, providerId: typeof info.messageId === 'string' ? info.messageId : undefined };
      } catch (err) {
        const kind = classifySmtpError(err);
        const details = { transport: TRANSPORT, status: smtpStatus(err), response: smtpResponse(err), cause: err };
        const text = `email-to-SMS to ${to} failed: ${(err as Error).message}`;
        if (kind === 'rejected') throw new PushRejectedError(text, { ...details, code: 'rejected' });
        throw new PushGatewayError(text, { ...details, code: kind });
      }
    });
  }

  async sendWapPush(_msg: WapPushMessage): Promise<DeliveryReceipt> {
    throw unsupported('WAP push');
  }

  async sendBinaryPush(_msg: BinaryPushMessage): Promise<DeliveryReceipt> {
    throw unsupported('binary WAP push (OMA DM trigger / CP bootstrap)');
  }

  close(): void {
    this.transport.close();
  }
}

function unsupported(what: string): PushRejectedError {
  return new PushRejectedError(
    `${what} is not supported by the email-sms transport (email-to-SMS gateways carry plain text only); use SMS push or PUSH_TRANSPORT=kannel`,
    { code: 'unsupported', transport: TRANSPORT },
  );
}
