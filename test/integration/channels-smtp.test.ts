/**
 * The SMTP mailer (P3 notifications) and the email-to-SMS push channel against a real in-process
 * SMTP server (smtp-server), mails read back with mailparser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/child-process';
import type { PushChannel } from '../../domain/ports';
import {
  createMailer,
  createPushChannel,
  deliveryReportWaitMs,
  EmailSmsPushChannel,
  MailRejectedError,
  MailTransportError,
  mailerConfigFromEnv,
  PushGatewayError,
  PushRejectedError,
  pushChannelConfigFromEnv,
  SmtpMailer,
} from '../../infra/channels';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp';

describe('SMTP mailer (nodemailer → smtp-server)', () => {
  let smtp: TestSmtpServer;
  let authSmtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    authSmtp = await startSmtpServer({ auth: { user: 'rollout', pass: 's3cret/+' } });
  });
  afterAll(async () => {
    await smtp?.stop();
    await authSmtp?.stop();
  });

  it('sends a notification as plain text plus HTML to every address', async () => {
    const mailer = createMailer({ url: smtp.url, from: 'DeviceRollout <rollout@example.com>' });
    const res = await mailer.send({
      idempotencyKey: 'rollout-7/completed',
      to: ['ops@example.com', 'lead@example.org'],
      subject: 'Rollout 7 completed – 98 installed, 2 failed',
      text: 'Rollout 7 completed.\nInstalled: 98\nFailed: 2',
      html: '<h1>Rollout 7 completed</h1><p>Installed: <b>98</b></p>',
    });
    expect(res.messageId).toMatch(/^<[0-9a-f]{32}@example\.com>$/);
    const [mail] = await smtp.waitForMails(1, (m) => m.parsed.messageId === res.messageId);
    expect(mail?.envelope).toEqual({ from: 'rollout@example.com', to: ['ops@example.com', 'lead@example.org'] });
    expect(mail?.parsed.subject).toBe('Rollout 7 completed – 98 installed, 2 failed');
    expect(mail?.parsed.text?.trim()).toBe('Rollout 7 completed.\nInstalled: 98\nFailed: 2');
    expect(mail?.parsed.html).toContain('<h1>Rollout 7 completed</h1><p>Installed: <b>98</b></p>');
    expect(mail?.parsed.from?.value[0]).toMatchObject({ address: 'rollout@example.com', name: 'DeviceRollout' });
    expect(mail?.parsed.headers.get('x-idempotency-key')).toBe('rollout-7/completed');
    mailer.close();
  });

  it('plain text only when there is no HTML', async () => {
    const mailer = createMailer({ url: smtp.url, from: 'rollout@example.com' });
    const res = await mailer.send({ idempotencyKey: 'text-only', to: ['ops@example.com'], subject: 'Text', text: 'just text' });
    const [mail] = await smtp.waitForMails(1, (m) => m.parsed.messageId === res.messageId);
    expect(mail?.parsed.text?.trim()).toBe('just text');
    expect(mail?.parsed.html).toBe(false);
    mailer.close();
  });

  it('the same idempotency key sends once; the Message-ID is derived from the key', async () => {
    const mailer = new SmtpMailer({ url: smtp.url, from: 'rollout@example.com' });
    const msg = { idempotencyKey: 'threshold-9', to: ['ops@example.com'], subject: 'Threshold', text: 'x' };
    const first = await mailer.send(msg);
    const second = await mailer.send(msg);
    expect(second).toEqual({ ...first, duplicate: true });
    const other = new SmtpMailer({ url: smtp.url, from: 'rollout@example.com' });
    expect((await other.send(msg)).messageId).toBe(first.messageId); // another worker: same Message-ID
    await smtp.waitForMails(2, (m) => m.parsed.messageId === first.messageId);
    mailer.close();
    other.close();
  });

  it('logs in with the credentials of the SMTP URL; a wrong password is a non-retryable error', async () => {
    const ok = createMailer({ url: authSmtp.url, from: 'rollout@example.com' });
    const res = await ok.send({ idempotencyKey: 'auth-ok', to: ['ops@example.com'], subject: 'auth', text: 'x' });
    const [mail] = await authSmtp.waitForMails(1, (m) => m.parsed.messageId === res.messageId);
    expect(mail?.user).toBe('rollout');
    ok.close();

    const bad = createMailer({ url: `smtp://rollout:wrong@127.0.0.1:${authSmtp.port}`, from: 'rollout@example.com' });
    const err = await bad
      .send({ idempotencyKey: 'auth-bad', to: ['ops@example.com'], subject: 'auth', text: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailRejectedError);
    expect(err).toMatchObject({ nonRetryable: true, status: 535 });
    bad.close();
  });

  it('5xx recipient refusals are final, 4xx are retryable, an unreachable server is retryable', async () => {
    smtp.rejectRecipient = (a) => (a.startsWith('gone@') ? 550 : a.startsWith('busy@') ? 451 : undefined);
    try {
      const mailer = createMailer({ url: smtp.url, from: 'rollout@example.com' });
      const gone = await mailer
        .send({ idempotencyKey: 'r-550', to: ['gone@example.com'], subject: 's', text: 'x' })
        .catch((e: unknown) => e);
      expect(gone).toBeInstanceOf(MailRejectedError);
      expect(gone).toMatchObject({ status: 550, nonRetryable: true });
      const busy = await mailer
        .send({ idempotencyKey: 'r-451', to: ['busy@example.com'], subject: 's', text: 'x' })
        .catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(MailTransportError);
      expect(busy).toMatchObject({ status: 451, nonRetryable: false, code: 'temporary' });
      mailer.close();
    } finally {
      smtp.rejectRecipient = undefined;
    }
    const down = createMailer({ url: `smtp://127.0.0.1:${await freePort()}`, from: 'rollout@example.com' });
    const err = await down
      .send({ idempotencyKey: 'down', to: ['ops@example.com'], subject: 's', text: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailTransportError);
    expect(err).toMatchObject({ code: 'unreachable', nonRetryable: false });
  });

  it('without SMTP_URL mails are rendered but not sent (works for npm start)', async () => {
    const cfg = mailerConfigFromEnv({});
    expect(cfg).toEqual({ url: undefined, from: 'DeviceRollout <device-rollout@localhost>' });
    const res = await createMailer(cfg).send({ idempotencyKey: 'json', to: ['ops@example.com'], subject: 's', text: 'x' });
    expect(res.messageId).toMatch(/@localhost>$/);
  });
});

describe('email-to-SMS push channel', () => {
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp?.stop();
  });

  it('sends the SMS text as a mail to <msisdn>@<domain>', async () => {
    const channel = createPushChannel({
      transport: 'email-sms',
      domain: 'sms.example.net',
      from: 'DeviceRollout <sms@example.com>',
      smtpUrl: smtp.url,
    });
    expect(channel).toBeInstanceOf(EmailSmsPushChannel);
    const link = 'https://dl.example.com/d/Zx9?sig=a%2Fb&v=1';
    const receipt = await channel.sendSms({ idempotencyKey: 'job-1/sms', to: '+49 151 2345 6789', text: `Install Foo: ${link}` });
    expect(receipt.transport).toBe('email-sms');
    const [mail] = await smtp.waitForMails(1, (m) => m.envelope.to.includes('4915123456789@sms.example.net'));
    expect(mail?.parsed.text?.trim()).toBe(`Install Foo: ${link}`);
    expect(mail?.parsed.subject ?? '').toBe('');
    expect(mail?.parsed.messageId).toBe(receipt.providerId);
    expect(mail?.parsed.headers.get('x-idempotency-key')).toBe('job-1/sms');
    expect((await channel.sendSms({ idempotencyKey: 'job-1/sms', to: '+4915123456789', text: 'again' })).duplicate).toBe(true);
  });

  it('local part formats: plus and zeros', async () => {
    const plus = new EmailSmsPushChannel({ domain: 'gw.example', from: 'a@example.com', smtpUrl: smtp.url, localPart: 'plus' });
    const zeros = new EmailSmsPushChannel({ domain: 'gw.example', from: 'a@example.com', smtpUrl: smtp.url, localPart: 'zeros' });
    expect(plus.addressFor('004915123456789')).toBe('+4915123456789@gw.example');
    expect(zeros.addressFor('+4915123456789')).toBe('004915123456789@gw.example');
    await zeros.sendSms({ idempotencyKey: 'zeros', to: '+4915123456789', text: 'z' });
    await smtp.waitForMails(1, (m) => m.envelope.to.includes('004915123456789@gw.example'));
  });

  it('WAP and binary pushes are refused with a clear non-retryable error; nothing is sent', async () => {
    const channel: PushChannel = createPushChannel({
      transport: 'email-sms',
      domain: 'sms.example.net',
      from: 'a@example.com',
      smtpUrl: smtp.url,
    });
    const before = smtp.received.length;
    const wap = await channel
      .sendWapPush({ idempotencyKey: 'w', to: '+4915123456789', href: 'https://x.example/d/1', text: 't' })
      .catch((e: unknown) => e);
    expect(wap).toBeInstanceOf(PushRejectedError);
    expect(wap).toMatchObject({ code: 'unsupported', nonRetryable: true, transport: 'email-sms' });
    expect((wap as Error).message).toMatch(/WAP push is not supported by the email-sms transport/);
    const bin = await channel
      .sendBinaryPush({
        idempotencyKey: 'b',
        to: '+4915123456789',
        contentType: 'application/vnd.syncml.notification',
        body: Buffer.from([1]),
      })
      .catch((e: unknown) => e);
    expect(bin).toMatchObject({ name: 'PushRejectedError', code: 'unsupported' });
    expect(smtp.received.length).toBe(before);
  });

  it('an invalid MSISDN is rejected; an unreachable SMTP server is retryable', async () => {
    const channel = new EmailSmsPushChannel({ domain: 'sms.example.net', from: 'a@example.com', smtpUrl: smtp.url });
    await expect(channel.sendSms({ idempotencyKey: 'inv', to: '0151-1234', text: 'x' })).rejects.toMatchObject({
      name: 'PushRejectedError',
      code: 'invalid',
    });
    const down = new EmailSmsPushChannel({
      domain: 'sms.example.net',
      from: 'a@example.com',
      smtpUrl: `smtp://127.0.0.1:${await freePort()}`,
    });
    const err = await down.sendSms({ idempotencyKey: 'down', to: '+4915123456789', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushGatewayError);
    expect(err).toMatchObject({ nonRetryable: false, code: 'unreachable' });
  });
});

describe('push transport selection', () => {
  it('reads the environment', () => {
    expect(pushChannelConfigFromEnv({})).toEqual({ transport: 'recording' });
    expect(
      pushChannelConfigFromEnv({
        PUSH_TRANSPORT: 'kannel',
        KANNEL_SENDSMS_USERNAME: 'u',
        KANNEL_SENDSMS_PASSWORD: 'p',
        KANNEL_DLR_URL: 'http://127.0.0.1:3000/internal/kannel/dlr',
        KANNEL_DLR_MASK: '3',
        SMS_SENDER_ID: 'IT-Dept',
      }),
    ).toMatchObject({
      transport: 'kannel',
      sendsmsUrl: 'http://127.0.0.1:13013/cgi-bin/sendsms',
      ppgUrl: 'http://127.0.0.1:8080/wappush',
      username: 'u',
      password: 'p',
      senderId: 'IT-Dept',
      dlrMask: 3,
    });
    expect(() => pushChannelConfigFromEnv({ PUSH_TRANSPORT: 'kannel' })).toThrow(/KANNEL_SENDSMS_USERNAME is required/);
    expect(
      pushChannelConfigFromEnv({ PUSH_TRANSPORT: 'email-sms', EMAIL_SMS_DOMAIN: 'sms.example.net', SMTP_URL: 'smtp://h:25' }),
    ).toEqual({
      transport: 'email-sms',
      domain: 'sms.example.net',
      from: 'DeviceRollout <device-rollout@localhost>',
      smtpUrl: 'smtp://h:25',
      localPart: undefined,
      subject: undefined,
    });
    expect(() => pushChannelConfigFromEnv({ PUSH_TRANSPORT: 'pigeon' })).toThrow(/PUSH_TRANSPORT/);
  });

  it("waits for a lost answer's delivery report only when reports can tell that a message went out", () => {
    const kannel = (env: Record<string, string>) => {
      const config = pushChannelConfigFromEnv({
        PUSH_TRANSPORT: 'kannel',
        KANNEL_SENDSMS_USERNAME: 'u',
        KANNEL_SENDSMS_PASSWORD: 'p',
        ...env,
      });
      if (config.transport !== 'kannel') throw new Error('not kannel');
      return deliveryReportWaitMs(config);
    };
    const dlrUrl = 'http://127.0.0.1:3000/callbacks/kannel/dlr';
    expect(kannel({})).toBe(0);
    expect(kannel({ KANNEL_DLR_URL: dlrUrl })).toBe(60_000);
    expect(kannel({ KANNEL_DLR_URL: dlrUrl, KANNEL_DLR_WAIT_MS: '15000' })).toBe(15_000);
    expect(kannel({ KANNEL_DLR_URL: dlrUrl, KANNEL_DLR_WAIT_MS: '0' })).toBe(0);
    // failures only (2 failed, 16 rejected): no report would say the message went out
    expect(kannel({ KANNEL_DLR_URL: dlrUrl, KANNEL_DLR_MASK: '18' })).toBe(0);
    expect(kannel({ KANNEL_DLR_URL: dlrUrl, KANNEL_DLR_MASK: '8' })).toBe(60_000);
    expect(() => kannel({ KANNEL_DLR_WAIT_MS: 'soon' })).toThrow(/KANNEL_DLR_WAIT_MS/);
  });

  it('recording: the injected instance is used; without one it is a clear error', () => {
    const rec: PushChannel = {
      sendSms: async () => ({ transport: 'recording' }),
      sendWapPush: async () => ({ transport: 'recording' }),
      sendBinaryPush: async () => ({ transport: 'recording' }),
    };
    expect(createPushChannel({ transport: 'recording', channel: rec })).toBe(rec);
    expect(createPushChannel({ transport: 'recording' }, { recording: rec })).toBe(rec);
    expect(() => createPushChannel({ transport: 'recording' })).toThrow(/recording PushChannel instance/);
  });
});
