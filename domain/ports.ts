/**
 * Ports: the boundaries between the install workflow's activities and the outside world.
 * Activities receive implementations through `createActivities({ ... })`; tests pass real
 * implementations (Kannel, SMTP, the native OMA DM server) or, inside workflow unit tests only,
 * doubles of the activities themselves.
 */

/** A plain SMS (text) to one MSISDN. */
export interface SmsMessage {
  /** Stable across activity retries: the same key must never produce a second message. */
  idempotencyKey: string;
  /** MSISDN in international format, e.g. +4915123456789 */
  to: string;
  text: string;
}

/** A WAP push Service Indication (SI): the device shows `text` and opens `href`. */
export interface WapPushMessage {
  idempotencyKey: string;
  to: string;
  /** The push ticket link. */
  href: string;
  text: string;
  /** SI id; defaults to the href. */
  siId?: string;
  created?: Date;
  expires?: Date;
}

/** A binary WAP push (e.g. OMA DM Package #0 trigger, OMA Client Provisioning bootstrap). */
export interface BinaryPushMessage {
  idempotencyKey: string;
  to: string;
  /** e.g. application/vnd.syncml.notification, application/vnd.wap.connectivity-wbxml */
  contentType: string;
  /** WAP push application id, e.g. x-wap-application:syncml.dm */
  applicationId?: string;
  body: Buffer;
}

export interface DeliveryReceipt {
  /** Which transport carried it (kannel, email-sms, recording …). */
  transport: string;
  /** The gateway's id for the message, when it gives one. */
  providerId?: string;
  /** True when an earlier attempt with the same idempotency key had already sent it. */
  duplicate?: boolean;
}

export interface PushChannel {
  sendSms(msg: SmsMessage): Promise<DeliveryReceipt>;
  sendWapPush(msg: WapPushMessage): Promise<DeliveryReceipt>;
  sendBinaryPush(msg: BinaryPushMessage): Promise<DeliveryReceipt>;
}

/** Admin notification email (rollout completed, failure threshold crossed). */
export interface MailMessage {
  idempotencyKey: string;
  to: string[];
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  send(msg: MailMessage): Promise<{ messageId?: string; duplicate?: boolean }>;
}

/**
 * The OMA DM engine: bootstraps devices and installs packages over SyncML DM.
 * Results arrive later as signals to the install workflow (bootstrapConfirmed, dmInstallResult).
 */
export interface DmEngine {
  /** Send the OMA CP bootstrap (DM account) to the device. Idempotent per key. */
  bootstrap(req: { idempotencyKey: string; installationId: string; deviceId: string }): Promise<void>;
  /** Queue a SCOMO DownloadInstall of `packageUrl` and trigger a DM session (Package #0). */
  install(req: {
    idempotencyKey: string;
    installationId: string;
    deviceId: string;
    packageUrl: string;
    softwareName: string;
    version: string;
  }): Promise<void>;
}
