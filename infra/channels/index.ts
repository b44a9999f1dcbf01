/**
 * Outbound channels: the PushChannel (SMS, WAP push, binary push to devices) and the admin Mailer.
 *
 * Choose the push transport with a config object (or from the environment, `pushChannelConfigFromEnv`):
 *
 *   createPushChannel({ transport: 'kannel', sendsmsUrl, username, password, senderId, ppgUrl, … })
 *   createPushChannel({ transport: 'email-sms', domain, from, smtpUrl, … })
 *   createPushChannel({ transport: 'recording', channel: someRecordingChannel })
 *
 * Environment keys (README; every one optional unless marked):
 *
 * | key                          | default                                   | meaning |
 * |------------------------------|-------------------------------------------|---------|
 * | PUSH_TRANSPORT               | recording                                 | `kannel`, `email-sms` or `recording` (messages are only recorded) |
 * | SMS_SENDER_ID                | DevRollout                                | sender id of SMS and pushes (kannel: sendsms `from`, PPG `X-Kannel-From`) |
 * | KANNEL_SENDSMS_URL           | http://127.0.0.1:13013/cgi-bin/sendsms    | smsbox sendsms interface |
 * | KANNEL_SENDSMS_USERNAME      | — (required for kannel)                   | sendsms-user username |
 * | KANNEL_SENDSMS_PASSWORD      | — (required for kannel)                   | sendsms-user password |
 * | KANNEL_PPG_URL               | http://127.0.0.1:8080/wappush             | wapbox PPG (PAP) URL for WAP push |
 * | KANNEL_PPG_USERNAME          | unset (trusted PI)                        | wap-push-user ppg-username (HTTP Basic) |
 * | KANNEL_PPG_PASSWORD          | unset                                     | wap-push-user ppg-password |
 * | KANNEL_PPG_ADDRESS_HOST      | host of KANNEL_PPG_URL                    | `@ppg` part of PAP addresses |
 * | KANNEL_DLR_URL               | unset (no delivery reports)               | callback URL for delivery reports |
 * | KANNEL_DLR_MASK              | 31                                        | Kannel dlr-mask (1 delivered, 2 failed, 4 buffered, 8 smsc ack, 16 smsc nack) |
 * | KANNEL_DLR_WAIT_MS           | 60000 (0 without reports)                 | how long a retry of a send whose answer was lost waits for the message's delivery report before sending again (durable.ts) |
 * | KANNEL_SMSC_ID               | unset (Kannel routing)                    | force an smsc-id |
 * | KANNEL_SMS_VALIDITY_MINUTES  | unset (SMSC default)                      | SMS validity period |
 * | KANNEL_SI_ACTION             | signal-high                               | SI action of WAP pushes |
 * | KANNEL_TIMEOUT_MS            | 10000                                     | HTTP timeout towards Kannel |
 * | EMAIL_SMS_DOMAIN             | — (required for email-sms)                | mail goes to `<msisdn>@<domain>` |
 * | EMAIL_SMS_FROM               | MAIL_FROM                                 | From of email-to-SMS mails |
 * | EMAIL_SMS_SMTP_URL           | SMTP_URL                                  | SMTP server for email-to-SMS |
 * | EMAIL_SMS_LOCAL_PART         | digits                                    | `digits` (4915…), `plus` (+4915…), `zeros` (004915…) |
 * | EMAIL_SMS_SUBJECT            | empty                                     | subject of email-to-SMS mails |
 * | SMTP_URL                     | unset (mails rendered, not sent)          | `smtp://user:pass@host:587`, `smtps://host:465` |
 * | MAIL_FROM                    | DeviceRollout <device-rollout@localhost>  | From of admin notification mails |
 */
import type { PushChannel } from '../../domain/ports';
import { type EmailSmsChannelConfig, EmailSmsPushChannel } from './email-sms';
import { type KannelChannelConfig, KannelPushChannel, type SiAction } from './kannel';
import { SmtpMailer, type SmtpMailerConfig } from './mailer';

export * from './email-sms';
export * from './errors';
export * from './kannel';
export * from './mailer';

/** Kannel WAP/SMS gateway: SMS via smsbox sendsms, WAP push via the PPG, binary push via sendsms+UDH. */
interface KannelTransportConfig extends KannelChannelConfig {
  transport: 'kannel';
  /**
   * How long a retry of a send whose answer was lost waits for that message's delivery report before
   * it sends again, in ms (the durable record, durable.ts); default 60000 when reports of acceptance or
   * delivery are asked for (`dlrUrl`, `dlrMask` with 1, 4 or 8), else 0 (env KANNEL_DLR_WAIT_MS).
   */
  dlrWaitMs?: number;
}

/** The wait of `KannelTransportConfig.dlrWaitMs` in effect: 0 when no report can tell a message went out. */
export function deliveryReportWaitMs(config: KannelTransportConfig): number {
  const mask = config.dlrMask ?? 31;
  if (!config.dlrUrl || (mask & (1 | 4 | 8)) === 0) return 0;
  return config.dlrWaitMs ?? 60_000;
}

/** Email-to-SMS gateway over SMTP: SMS only. */
interface EmailSmsTransportConfig extends EmailSmsChannelConfig {
  transport: 'email-sms';
}

/**
 * Messages are only recorded (development, tests). The recording channel is provided by its own
 * module; pass the instance here or as `deps.recording` of `createPushChannel`.
 */
interface RecordingTransportConfig {
  transport: 'recording';
  channel?: PushChannel;
}

export type PushChannelConfig = KannelTransportConfig | EmailSmsTransportConfig | RecordingTransportConfig;

export function createPushChannel(config: PushChannelConfig, deps: { recording?: PushChannel } = {}): PushChannel {
  switch (config.transport) {
    case 'kannel': {
      const { transport: _t, ...rest } = config;
      return new KannelPushChannel(rest);
    }
    case 'email-sms': {
      const { transport: _t, ...rest } = config;
      return new EmailSmsPushChannel(rest);
    }
    case 'recording': {
      const channel = config.channel ?? deps.recording;
      if (!channel)
        throw new Error('push transport "recording" needs a recording PushChannel instance (config.channel or deps.recording)');
      return channel;
    }
    default: {
      const never: never = config;
      throw new Error(`unknown push transport ${JSON.stringify((never as { transport?: unknown }).transport)}`);
    }
  }
}

const DEFAULT_MAIL_FROM = 'DeviceRollout <device-rollout@localhost>';

/** Push transport configuration from the environment (keys in the table above). */
export function pushChannelConfigFromEnv(env: NodeJS.ProcessEnv = process.env): PushChannelConfig {
  const transport = (env.PUSH_TRANSPORT || 'recording').trim();
  const senderId = env.SMS_SENDER_ID || 'DevRollout';
  switch (transport) {
    case 'kannel':
      return {
        transport,
        sendsmsUrl: env.KANNEL_SENDSMS_URL || 'http://127.0.0.1:13013/cgi-bin/sendsms',
        username: required(env, 'KANNEL_SENDSMS_USERNAME', transport),
        password: required(env, 'KANNEL_SENDSMS_PASSWORD', transport),
        senderId,
        ppgUrl: env.KANNEL_PPG_URL || 'http://127.0.0.1:8080/wappush',
        ppgUsername: env.KANNEL_PPG_USERNAME || undefined,
        ppgPassword: env.KANNEL_PPG_PASSWORD || undefined,
        ppgAddressHost: env.KANNEL_PPG_ADDRESS_HOST || undefined,
        dlrUrl: env.KANNEL_DLR_URL || undefined,
        dlrMask: optInt(env, 'KANNEL_DLR_MASK', 0, 31),
        dlrWaitMs: optInt(env, 'KANNEL_DLR_WAIT_MS', 0, 86_400_000),
        smscId: env.KANNEL_SMSC_ID || undefined,
        validityMinutes: optInt(env, 'KANNEL_SMS_VALIDITY_MINUTES', 1, 10_080 * 6),
        siAction: siAction(env.KANNEL_SI_ACTION),
        timeoutMs: optInt(env, 'KANNEL_TIMEOUT_MS', 100, 600_000),
      };
    case 'email-sms': {
      const localPart = env.EMAIL_SMS_LOCAL_PART || undefined;
      if (localPart !== undefined && localPart !== 'digits' && localPart !== 'plus' && localPart !== 'zeros')
        throw new Error(`EMAIL_SMS_LOCAL_PART: "${localPart}" is not digits, plus or zeros`);
      return {
        transport,
        domain: required(env, 'EMAIL_SMS_DOMAIN', transport),
        from: env.EMAIL_SMS_FROM || env.MAIL_FROM || DEFAULT_MAIL_FROM,
        smtpUrl: env.EMAIL_SMS_SMTP_URL || env.SMTP_URL || undefined,
        localPart,
        subject: env.EMAIL_SMS_SUBJECT || undefined,
      };
    }
    case 'recording':
      return { transport };
    default:
      throw new Error(`PUSH_TRANSPORT: "${transport}" is not kannel, email-sms or recording`);
  }
}

/** Admin mailer configuration from the environment (SMTP_URL, MAIL_FROM). */
export function mailerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SmtpMailerConfig {
  return { url: env.SMTP_URL || undefined, from: env.MAIL_FROM || DEFAULT_MAIL_FROM };
}

export function createMailer(config: SmtpMailerConfig): SmtpMailer {
  return new SmtpMailer(config);
}

function required(env: NodeJS.ProcessEnv, name: string, transport: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is required when PUSH_TRANSPORT=${transport}`);
  return v;
}

function optInt(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: "${v}" is not an integer in ${min}..${max}`);
  return n;
}

function siAction(v: string | undefined): SiAction | undefined {
  if (!v) return undefined;
  const ok: SiAction[] = ['signal-none', 'signal-low', 'signal-medium', 'signal-high', 'delete'];
  if (!ok.includes(v as SiAction)) throw new Error(`KANNEL_SI_ACTION: "${v}" is not one of ${ok.join(', ')}`);
  return v as SiAction;
}
