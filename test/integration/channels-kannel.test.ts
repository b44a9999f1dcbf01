/**
 * The Kannel push channel against a real Kannel (bearerbox + smsbox + wapbox/PPG) whose SMSC is
 * this test process (test/helpers/kannel.ts). Fails — never skips — when Kannel is not installed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/child-process';
import {
  createPushChannel,
  type KannelDeliveryReport,
  KannelPushChannel,
  PushGatewayError,
  PushRejectedError,
  parseKannelDlr,
} from '../../infra/channels';
import { type AssembledSms, decodeSi, decodeWapPushSms, type KannelGateway, parseUdh, startKannel } from '../helpers/kannel';

/** Collects delivery reports that smsbox calls back (the channel's dlrUrl). */
async function startDlrReceiver() {
  const reports: KannelDeliveryReport[] = [];
  const server = http.createServer((req, res) => {
    const r = parseKannelDlr(new URL(req.url ?? '/', 'http://localhost').searchParams);
    if (r) reports.push(r);
    res.writeHead(r ? 200 : 400).end(r ? 'ok' : 'not a DLR');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/internal/kannel/dlr?src=test`,
    reports,
    async waitFor(key: string, state: KannelDeliveryReport['state'], timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = reports.find((r) => r.idempotencyKey === key && r.state === state);
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(`no "${state}" DLR for ${key}; got ${JSON.stringify(reports.filter((r) => r.idempotencyKey === key))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let msisdnSeq = 0;
/** A fresh receiver per test, so messages of different tests never mix. */
function nextMsisdn(): string {
  msisdnSeq += 1;
  return `+49151${String(process.pid % 10_000).padStart(4, '0')}${String(msisdnSeq).padStart(3, '0')}`;
}

const to = (n: string) => (m: AssembledSms) => m.to === n;

describe('Kannel push channel (real bearerbox, smsbox, wapbox/PPG; the test is the SMSC)', () => {
  let gw: KannelGateway;
  let dlr: Awaited<ReturnType<typeof startDlrReceiver>>;
  let channel: KannelPushChannel;

  // A start-up failure (e.g. Kannel not installed) must fail every test, not skip them: vitest skips
  // the tests of a suite whose beforeAll throws, so the error is rethrown by beforeEach instead.
  let startError: unknown;
  beforeAll(async () => {
    try {
      dlr = await startDlrReceiver();
      gw = await startKannel();
      channel = new KannelPushChannel(gw.channelConfig({ dlrUrl: dlr.url }));
    } catch (err) {
      startError = err;
    }
  }, 60_000);
  beforeEach(() => {
    if (startError) throw startError;
  });

  afterAll(async () => {
    await gw?.stop();
    await dlr?.close();
  });

  it('an SMS with a download link arrives intact, and its delivery reports carry the idempotency key', async () => {
    const n = nextMsisdn();
    const key = 'install/42:sms ü%'; // characters that must survive Kannel's %-escapes in dlr-url
    const link = 'https://dl.example.com/d/Zx9_-k2?sig=a%2Fb&v=1.2';
    const text = `Install DME client 4.2: ${link}`;
    const receipt = await channel.sendSms({ idempotencyKey: key, to: n, text });
    expect(receipt).toEqual({ transport: 'kannel' });

    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.text).toBe(text);
    expect(m?.text).toContain(link);
    expect(m?.from).toBe(gw.senderId);
    expect(m?.coding).toBe(0);
    expect(m?.parts).toBe(1);
    expect(m?.sms[0]?.dlrMask).toBe(31);

    // bearerbox reports "accepted by SMSC" at once; the SMSC's "delivered" report travels back too
    const acked = await dlr.waitFor(key, 'smsc-accepted');
    expect(acked).toMatchObject({ kind: 'sms', type: 8, to: n });
    await gw.smsc.deliverReport(m?.sms[0] as NonNullable<typeof m>['sms'][0], 1);
    const delivered = await dlr.waitFor(key, 'delivered');
    expect(delivered).toMatchObject({ idempotencyKey: key, kind: 'sms', type: 1, to: n });
    expect(delivered.reply).toContain('DELIVRD');
  });

  it('a long SMS goes out as concatenated SMS that reassemble to the original text', async () => {
    const n = nextMsisdn();
    const link = 'https://dl.example.com/d/0123456789abcdef0123456789abcdef';
    const text = `${'Your device is scheduled for the installation of the DME client version 4.2.1. '.repeat(5)}Download: ${link}`;
    expect(text.length).toBeGreaterThan(320);
    await channel.sendSms({ idempotencyKey: `long-${n}`, to: n, text });

    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.parts).toBe(Math.ceil(text.length / 153));
    const udhs = m?.sms.map((s) => parseUdh(s.udh).concat) ?? [];
    expect(udhs.map((c) => c?.seq)).toEqual(udhs.map((_, i) => i + 1));
    expect(new Set(udhs.map((c) => `${c?.ref}/${c?.total}`)).size).toBe(1);
    for (const s of m?.sms ?? []) expect(s.data.toString('utf8').length).toBeLessThanOrEqual(153);
    expect(m?.text).toBe(text);
  });

  it('text outside the GSM alphabet goes as UCS-2 and arrives intact', async () => {
    const n = nextMsisdn();
    const text = 'Установите приложение: https://dl.example.com/d/Ю1 ✓';
    await channel.sendSms({ idempotencyKey: `ucs2-${n}`, to: n, text });
    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.coding).toBe(2);
    expect(m?.text).toBe(text);
  });

  it('WAP push: the PPG sends the SI as binary SMS to port 2948 and the decoded href equals the link', async () => {
    const n = nextMsisdn();
    const key = `wap-${n}`;
    const link = 'https://www.dl.example.com/d/TICKET-7f3a9c?x=1&y=2';
    const created = new Date('2026-03-01T10:00:00Z');
    const expires = new Date('2026-03-08T10:00:00Z');
    const receipt = await channel.sendWapPush({
      idempotencyKey: key,
      to: n,
      href: link,
      text: 'Install Foo 1.2 & more',
      created,
      expires,
    });
    expect(receipt).toEqual({ transport: 'kannel', providerId: key });

    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.coding).toBe(1);
    expect(m?.from).toBe(gw.senderId);
    expect(m?.ports).toEqual({ dst: 2948, src: 9200 });
    const pdu = decodeWapPushSms(m as AssembledSms);
    expect(pdu.pduType).toBe(0x06);
    expect(pdu.contentType).toBe('application/vnd.wap.sic');
    // no HTTP client headers (User-Agent 0x29, Accept 0x00 …) copied into the pushed WSP headers
    expect(pdu.headers.map((h) => h.name)).not.toContain('0x29');
    expect(pdu.headers.map((h) => h.name)).not.toContain('0x00');
    const si = decodeSi(pdu.body);
    expect(si.href).toBe(link);
    expect(si.siId).toBe(link);
    expect(si.text).toBe('Install Foo 1.2 & more');
    expect(si.action).toBe('signal-high');
    expect(si.created).toBe('2026-03-01T10:00:00Z');
    expect(si.expires).toBe('2026-03-08T10:00:00Z');
    expect(si.publicId).toBe(0x05); // -//WAPFORUM//DTD SI 1.0//EN
    await dlr.waitFor(key, 'smsc-accepted');
  });

  it('WAP push too long for one SMS arrives concatenated and still decodes to the link', async () => {
    const n = nextMsisdn();
    const link = `http://downloads.example.org/d/${'A1b2C3d4'.repeat(8)}`;
    const text = 'The DME client 4.2.1 is ready for your Windows Mobile device. Open the link to install it now.';
    await channel.sendWapPush({ idempotencyKey: `wap-long-${n}`, to: n, href: link, text, siId: 'job-17' });
    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.parts).toBeGreaterThan(1);
    for (const s of m?.sms ?? []) expect((s.udh?.length ?? 0) + s.data.length).toBeLessThanOrEqual(140);
    const si = decodeSi(decodeWapPushSms(m as AssembledSms).body);
    expect(si.href).toBe(link);
    expect(si.siId).toBe('job-17');
    expect(si.text).toBe(text);
  });

  it('binary push: an OMA DM trigger arrives with content type, application id and body intact', async () => {
    const n = nextMsisdn();
    const body = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c02d8000000000b0a6d792d646d2d736572766572', 'hex');
    await channel.sendBinaryPush({
      idempotencyKey: `dm-${n}`,
      to: n,
      contentType: 'application/vnd.syncml.notification',
      applicationId: 'x-wap-application:syncml.dm',
      body,
    });
    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.coding).toBe(1);
    expect(m?.ports).toEqual({ dst: 2948, src: 9200 });
    const pdu = decodeWapPushSms(m as AssembledSms);
    expect(pdu.contentType).toBe('application/vnd.syncml.notification');
    expect(pdu.applicationId).toBe('x-wap-application:syncml.dm');
    expect(pdu.body.equals(body)).toBe(true);
    await dlr.waitFor(`dm-${n}`, 'smsc-accepted');
  });

  it('binary push: a CP bootstrap longer than one SMS arrives concatenated with SEC/MAC intact', async () => {
    const n = nextMsisdn();
    const body = Buffer.from(Array.from({ length: 420 }, (_, i) => (i * 37) & 0xff));
    const mac = 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678';
    await channel.sendBinaryPush({
      idempotencyKey: `cp-${n}`,
      to: n,
      contentType: `application/vnd.wap.connectivity-wbxml; SEC=USERPIN; MAC=${mac}`,
      body,
    });
    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.parts).toBeGreaterThanOrEqual(4);
    for (const s of m?.sms ?? []) {
      expect(parseUdh(s.udh).ports).toEqual({ dst: 2948, src: 9200 });
      expect((s.udh?.length ?? 0) + s.data.length).toBeLessThanOrEqual(140);
    }
    const pdu = decodeWapPushSms(m as AssembledSms);
    expect(pdu.contentType).toBe('application/vnd.wap.connectivity-wbxml');
    expect(pdu.params).toEqual({ SEC: 1, MAC: mac });
    expect(pdu.body.equals(body)).toBe(true);
  });

  it('a repeated idempotency key is not sent again', async () => {
    const n = nextMsisdn();
    const msg = { idempotencyKey: `dup-${n}`, to: n, text: 'once' };
    const [a, b] = await Promise.all([channel.sendSms(msg), channel.sendSms(msg)]);
    const c = await channel.sendSms(msg);
    expect([a?.duplicate, b?.duplicate, c.duplicate].filter(Boolean)).toHaveLength(2);
    await gw.smsc.waitForMessages(1, to(n));
    await new Promise((r) => setTimeout(r, 500));
    expect(gw.smsc.assembled(to(n))).toHaveLength(1);
  });

  it('wrong credentials and bad numbers are rejected for good (PushRejectedError)', async () => {
    const n = nextMsisdn();
    const bad = new KannelPushChannel(gw.channelConfig({ password: 'wrong', ppgPassword: 'wrong' }));
    const sms = await bad.sendSms({ idempotencyKey: `bad-sms-${n}`, to: n, text: 'x' }).catch((e: unknown) => e);
    expect(sms).toBeInstanceOf(PushRejectedError);
    expect(sms).toMatchObject({ name: 'PushRejectedError', nonRetryable: true, status: 403, transport: 'kannel' });
    const wap = await bad
      .sendWapPush({ idempotencyKey: `bad-wap-${n}`, to: n, href: 'https://x.example.com/d/1', text: 'x' })
      .catch((e: unknown) => e);
    expect(wap).toBeInstanceOf(PushRejectedError);
    expect(wap).toMatchObject({ status: 401, nonRetryable: true });
    const num = await channel.sendSms({ idempotencyKey: `bad-num-${n}`, to: '0151 1234', text: 'x' }).catch((e: unknown) => e);
    expect(num).toBeInstanceOf(PushRejectedError);
    expect(num).toMatchObject({ code: 'invalid' });
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.smsc.assembled(to(n))).toHaveLength(0);
  });

  it('createPushChannel builds the kannel transport from a config object', async () => {
    const n = nextMsisdn();
    const ch = createPushChannel({ transport: 'kannel', ...gw.channelConfig() });
    expect(ch).toBeInstanceOf(KannelPushChannel);
    await ch.sendSms({ idempotencyKey: `factory-${n}`, to: n, text: 'via factory' });
    const [m] = await gw.smsc.waitForMessages(1, to(n));
    expect(m?.text).toBe('via factory');
  });
});

describe('Kannel push channel when the gateway fails', () => {
  let gw: KannelGateway;
  let fake: http.Server;
  let fakeUrl: string;
  let fakeReply: { status: number; body: string } = { status: 503, body: 'Temporal failure, try again later.' };

  let startError: unknown;
  beforeAll(async () => {
    gw = await startKannel().catch((err: unknown) => {
      startError = err;
      return undefined as unknown as KannelGateway;
    });
    fake = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(fakeReply.status, { 'Content-Type': 'text/plain' }).end(fakeReply.body));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', () => resolve()));
    fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  }, 60_000);

  beforeEach(() => {
    if (startError) throw startError;
  });

  afterAll(async () => {
    await gw?.stop();
    await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
  });

  const push = { to: '+4915199990000', href: 'https://dl.example.com/d/t', text: 'x' };

  it('smsbox and PPG down: sends throw a retryable PushGatewayError', async () => {
    const ch = new KannelPushChannel(gw.channelConfig());
    await ch.sendSms({ idempotencyKey: 'up-first', to: push.to, text: 'while up' });
    await gw.stopBox('smsbox');
    await gw.stopBox('wapbox');
    const sms = await ch.sendSms({ idempotencyKey: 'down-sms', to: push.to, text: 'x' }).catch((e: unknown) => e);
    expect(sms).toBeInstanceOf(PushGatewayError);
    expect(sms).toMatchObject({ name: 'PushGatewayError', nonRetryable: false, code: 'unreachable' });
    const wap = await ch.sendWapPush({ idempotencyKey: 'down-wap', ...push }).catch((e: unknown) => e);
    expect(wap).toBeInstanceOf(PushGatewayError);
    const bin = await ch
      .sendBinaryPush({
        idempotencyKey: 'down-bin',
        to: push.to,
        contentType: 'application/vnd.syncml.notification',
        body: Buffer.from([1]),
      })
      .catch((e: unknown) => e);
    expect(bin).toBeInstanceOf(PushGatewayError);
    // a failed key is not remembered: the retry really tries again
    const again = await ch.sendSms({ idempotencyKey: 'down-sms', to: push.to, text: 'x' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PushGatewayError);
  });

  it('nothing listening at all: retryable', async () => {
    const port = await freePort();
    const ch = new KannelPushChannel({
      ...gw.channelConfig(),
      sendsmsUrl: `http://127.0.0.1:${port}/cgi-bin/sendsms`,
      ppgUrl: `http://127.0.0.1:${port}/wappush`,
    });
    await expect(ch.sendSms({ idempotencyKey: 'nobody', to: push.to, text: 'x' })).rejects.toMatchObject({
      name: 'PushGatewayError',
      code: 'unreachable',
      nonRetryable: false,
    });
  });

  it('5xx answers are retryable, 4xx answers and PAP 2xxx are not', async () => {
    const ch = new KannelPushChannel({
      ...gw.channelConfig(),
      sendsmsUrl: `${fakeUrl}/cgi-bin/sendsms`,
      ppgUrl: `${fakeUrl}/wappush`,
    });
    fakeReply = { status: 503, body: 'Temporal failure, try again later.' };
    await expect(ch.sendSms({ idempotencyKey: 'f-503', to: push.to, text: 'x' })).rejects.toMatchObject({
      name: 'PushGatewayError',
      status: 503,
      code: 'temporary',
    });
    await expect(ch.sendWapPush({ idempotencyKey: 'f-503-wap', ...push })).rejects.toBeInstanceOf(PushGatewayError);
    fakeReply = { status: 500, body: 'Sending failed.' };
    await expect(ch.sendSms({ idempotencyKey: 'f-500', to: push.to, text: 'x' })).rejects.toBeInstanceOf(PushGatewayError);
    fakeReply = { status: 403, body: 'Not routable. Do not try again.' };
    await expect(ch.sendSms({ idempotencyKey: 'f-403', to: push.to, text: 'x' })).rejects.toMatchObject({
      name: 'PushRejectedError',
      status: 403,
      nonRetryable: true,
    });
    const pap = (code: number) =>
      `<?xml version="1.0"?><pap><push-response push-id="p"><response-result code ="${code}" desc="test"></response-result></push-response></pap>`;
    fakeReply = { status: 202, body: pap(2002) };
    await expect(ch.sendWapPush({ idempotencyKey: 'f-2002', ...push })).rejects.toMatchObject({
      name: 'PushRejectedError',
      papCode: 2002,
    });
    fakeReply = { status: 202, body: pap(4001) };
    await expect(ch.sendWapPush({ idempotencyKey: 'f-4001', ...push })).rejects.toMatchObject({
      name: 'PushGatewayError',
      papCode: 4001,
    });
    fakeReply = { status: 202, body: pap(2007) };
    await expect(ch.sendWapPush({ idempotencyKey: 'f-2007', ...push })).resolves.toMatchObject({ duplicate: true });
  });
});
