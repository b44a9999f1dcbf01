/**
 * The push channel and the mailer the activities get, as configured by the environment
 * (PUSH_TRANSPORT, KANNEL_*, EMAIL_SMS_*, SMTP_URL, MAIL_FROM — see index.ts):
 *  - `recording` (default): nothing leaves the server, every message is recorded in `messages` and
 *    listed by `GET /api/v1/messages`, so `npm start` works without a gateway;
 *  - `kannel` / `email-sms`: the real gateway behind the durable send record (durable.ts), so a
 *    retried activity never sends a second message for one push (for a lost answer: once Kannel's
 *    delivery report says the message went out, or within KANNEL_DLR_WAIT_MS).
 */
import type { Knex } from 'knex';
import type { Mailer, PushChannel } from '../../domain/ports';
import { createDurableMailer, createDurablePushChannel } from './durable';
import { createMailer, createPushChannel, deliveryReportWaitMs, mailerConfigFromEnv, pushChannelConfigFromEnv } from './index';
import { createRecordingChannel } from './recording';

export function configuredPushChannel(db: Knex, env: NodeJS.ProcessEnv = process.env): PushChannel {
  const config = pushChannelConfigFromEnv(env);
  if (config.transport === 'recording') return createRecordingChannel(db);
  return createDurablePushChannel(db, createPushChannel(config), config.transport, {
    awaitReportMs: config.transport === 'kannel' ? deliveryReportWaitMs(config) : 0,
  });
}

export function configuredMailer(db: Knex, env: NodeJS.ProcessEnv = process.env): Mailer {
  const config = mailerConfigFromEnv(env);
  const mailer = createMailer(config);
  // without SMTP_URL mails are only rendered (logged): nothing to deduplicate
  return config.url ? createDurableMailer(db, mailer) : mailer;
}
