/**
 * A send whose answer is lost, against a real Kannel: the request gets to smsbox, Kannel passes the SMS
 * to its SMSC (this test process), and the connection is cut as the answer comes back. Kannel's sendsms
 * has no idempotency, so only the durable send record (infra/channels/durable.ts) and Kannel's delivery
 * report (recorded by services/delivery-reports.ts, as the API's callback does) can keep a retry from
 * sending the SMS a second time. Fails — never skips — when Kannel is not installed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PushChannel } from '../../domain/ports';
import { createDurablePushChannel } from '../../infra/channels/durable';
import { type KannelDeliveryReport, KannelPushChannel, parseKannelDlr } from '../../infra/channels/kannel';
import { createDb, type Db } from '../../infra/db';
import { recordDeliveryReport } from '../../services/delivery-reports';
import { type AssembledSms, type KannelGateway, startKannel } from '../helpers/kannel';
import { createTestDatabase } from '../helpers/stack';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { until } from '../helpers/until';

/** Kannel's delivery reports, recorded on the messages as the API's `/callbacks/kannel/dlr` does. */
async function startReportCallback(db: Db) {
  const reports: KannelDeliveryReport[] = [];
  const server = http.createServer((req, res) => {
    const report = parseKannelDlr(new URL(req.url ?? '/', 'http://localhost').searchParams);
    if (!report) return void res.writeHead(400).end();
    recordDeliveryReport(db, report).then(
      () => {
        reports.push(report);
        res.writeHead(200).end();
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callbacks/kannel/dlr`,
    recorded: (key: string, state: KannelDeliveryReport['state']) =>
      reports.some((r) => r.idempotencyKey === key && r.state === state),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let seq = 0;
const nextMsisdn = () => `+49152${String(process.pid % 10_000).padStart(4, '0')}${String(++seq).padStart(3, '0')}`;
const to = (n: string) => (m: AssembledSms) => m.to === n;

describe('a send whose answer Kannel never got back (durable record + delivery reports)', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let gw: KannelGateway;
  let proxy: TcpProxy;
  let callback: Awaited<ReturnType<typeof startReportCallback>>;
  let startError: unknown;

  /** The Kannel channel through the proxy, behind the durable record. */
  const channel = (o: { reports: boolean; awaitReportMs: number }): PushChannel =>
    createDurablePushChannel(
      db,
      new KannelPushChannel(
        gw.channelConfig({
          sendsmsUrl: gw.sendsmsUrl.replace(`:${gw.ports.sendsms}/`, `:${proxy.port}/`),
          ...(o.reports ? { dlrUrl: callback.url } : {}),
        }),
      ),
      'kannel',
      { awaitReportMs: o.awaitReportMs },
    );
  const stateOf = async (key: string) => (await db('messages').where({ idempotency_key: key }).first('state'))?.state;
  const failureOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: { code?: string; message: string }) => err,
    );

  // a start-up failure (Kannel not installed) fails every test instead of skipping them
  beforeAll(async () => {
    try {
      const database = await createTestDatabase();
      drop = database.drop;
      db = createDb(database.url);
      gw = await startKannel();
      proxy = await startTcpProxy(gw.ports.sendsms);
      callback = await startReportCallback(db);
    } catch (err) {
      startError = err;
    }
  }, 60_000);
  beforeEach(() => {
    if (startError) throw startError;
    proxy.loseAnswers(false);
  });
  afterAll(async () => {
    await callback?.close();
    await proxy?.stop();
    await gw?.stop();
    await db?.destroy();
    await drop?.();
  });

  it('the SMS went out, its answer was lost: once its report is in, the retry sends nothing', async () => {
    const n = nextMsisdn();
    const sms = { idempotencyKey: `lost-answer-${n}:push:1`, to: n, text: 'Install: https://dl.example.com/d/lost-answer' };
    const push = channel({ reports: true, awaitReportMs: 60_000 });
    const before = proxy.connections;

    proxy.loseAnswers(true);
    const lost = await failureOf(push.sendSms(sms));
    proxy.loseAnswers(false);
    expect(lost?.code).toBe('unanswered');
    await gw.smsc.waitForMessages(1, to(n));
    await until(
      'the report that the SMSC accepted it',
      async () => callback.recorded(sms.idempotencyKey, 'smsc-accepted') || undefined,
    );

    const retry = await push.sendSms(sms);
    expect(proxy.connections - before, 'requests to Kannel').toBe(1);
    expect(gw.smsc.assembled().filter(to(n)), 'SMS at the SMSC').toHaveLength(1);
    expect(retry.duplicate).toBe(true);
    expect(await stateOf(sms.idempotencyKey)).toBe('sent');
  });

  it('no report yet: a retry within the wait sends nothing; after it the SMS is sent again', async () => {
    const n = nextMsisdn();
    const sms = { idempotencyKey: `no-report-${n}:push:1`, to: n, text: 'Install: https://dl.example.com/d/no-report' };
    // the gateway asks for no reports here, so none will come
    const push = channel({ reports: false, awaitReportMs: 1_500 });
    const before = proxy.connections;

    proxy.loseAnswers(true);
    expect((await failureOf(push.sendSms(sms)))?.code).toBe('unanswered');
    proxy.loseAnswers(false);
    expect(await stateOf(sms.idempotencyKey)).toBe('unconfirmed');
    const held = await failureOf(push.sendSms(sms));
    expect(held?.code).toBe('unanswered');
    expect(held?.message).toContain('not sending again before its delivery report');
    expect(proxy.connections - before, 'requests to Kannel').toBe(1);

    await new Promise((r) => setTimeout(r, 1_600));
    const resent = await push.sendSms(sms);
    expect(resent.duplicate).toBeUndefined();
    expect(proxy.connections - before, 'requests to Kannel').toBe(2);
    expect(await stateOf(sms.idempotencyKey)).toBe('sent');
    expect(await gw.smsc.waitForMessages(2, to(n))).toHaveLength(2);
  });

  it('a refused connection never reached Kannel: the retry sends at once, without waiting for a report', async () => {
    const n = nextMsisdn();
    const sms = { idempotencyKey: `refused-${n}:push:1`, to: n, text: 'Install: https://dl.example.com/d/refused' };
    const push = channel({ reports: true, awaitReportMs: 60_000 });

    await proxy.down();
    const refused = await failureOf(push.sendSms(sms));
    await proxy.up();
    expect(refused?.code).toBe('unreachable');
    expect(await stateOf(sms.idempotencyKey)).toBe('failed');

    const sent = await push.sendSms(sms);
    expect(sent.duplicate).toBeUndefined();
    expect(await gw.smsc.waitForMessages(1, to(n))).toHaveLength(1);
    await until(
      'the report that the SMSC accepted it',
      async () => callback.recorded(sms.idempotencyKey, 'smsc-accepted') || undefined,
    );
    expect(await stateOf(sms.idempotencyKey)).toBe('sent');
  });
});
