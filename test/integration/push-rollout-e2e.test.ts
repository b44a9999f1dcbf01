/**
 * Issue 5 end to end on the dev server with a real Kannel: a rollout of 20 devices by SMS push and
 * one of 20 by WAP push. Every device receives exactly one message per push at the test's SMSC,
 * follows its link (the SMS text, or the href of the binary WAP push SI), downloads, syncs the new
 * version and ends `Downloaded – Verified`. In the middle the gateway is unreachable for 30 s: the
 * push activities retry with backoff, nothing is lost, nothing is sent twice — also a push whose
 * request Kannel took as the outage cut its answer (its delivery report tells the retry it went out).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { createDurablePushChannel } from '../../infra/channels/durable';
import { KannelPushChannel } from '../../infra/channels/kannel';
import { type AssembledSms, decodeSi, decodeWapPushSms, type KannelGateway, startKannel } from '../helpers/kannel';
import { type Stack, startStack } from '../helpers/stack';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { until } from '../helpers/until';

const DEVICES_PER_METHOD = 20;
const OUTAGE_MS = 30_000;

describe('SMS and WAP push rollouts through Kannel, with a 30 s gateway outage (issue 5)', () => {
  let kannel: KannelGateway;
  let sendsmsProxy: TcpProxy;
  let ppgProxy: TcpProxy;
  let stack: Stack;

  beforeAll(async () => {
    kannel = await startKannel();
    sendsmsProxy = await startTcpProxy(kannel.ports.sendsms);
    ppgProxy = await startTcpProxy(kannel.ports.ppg);
    // each worker its own channel, as worker processes have; Kannel's delivery reports go to the API,
    // so that a push whose answer the outage cut is not sent again once its report says it went out
    const channel = (port: number) =>
      new KannelPushChannel(
        kannel.channelConfig({
          sendsmsUrl: kannel.sendsmsUrl.replace(`:${kannel.ports.sendsms}/`, `:${sendsmsProxy.port}/`),
          ppgUrl: kannel.ppgUrl.replace(`:${kannel.ports.ppg}/`, `:${ppgProxy.port}/`),
          dlrUrl: `http://127.0.0.1:${port}/callbacks/kannel/dlr`,
        }),
      );
    stack = await startStack({
      deps: (db, config) => ({
        push: createDurablePushChannel(db, channel(config.port), 'kannel', { awaitReportMs: 20_000 }),
      }),
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await sendsmsProxy?.stop();
    await ppgProxy?.stop();
    await kannel?.stop();
  });

  it('40 devices: one message each, all verified, none lost or doubled across the outage', async () => {
    const msisdn = (i: number) => `+4915200${String(i).padStart(5, '0')}`;
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 2 * DEVICES_PER_METHOD }, (_, i) => ({
        externalId: `kannel-e2e-${i}`,
        platform: 'windows-mobile-pocketpc',
        msisdn: msisdn(i),
        installed: { 'DME Client': '5.1' },
      })),
    });
    expect(reg.status).toBe(201);
    const devices: Array<{ id: string; token: string }> = reg.body.devices;
    const tokenByMsisdn = new Map(devices.map((d, i) => [msisdn(i), d.token]));

    const form = new FormData();
    for (const [k, v] of Object.entries({
      name: 'DME Client',
      version: '5.2',
      kind: 'dme-client',
      platforms: 'windows-mobile-pocketpc',
    }))
      form.append(k, v);
    form.append('file', new Blob([Buffer.alloc(64 * 1024, 7)]), 'dme-client.cab');
    const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(up.status).toBe(201);
    const softwareId = ((await up.json()) as { id: string }).id;

    const schedule = {
      perDay: 'unlimited',
      timeZone: 'UTC',
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      window: { start: '00:00', end: '24:00' },
    };
    const start = async (push: 'sms' | 'wap', ids: string[]) => {
      const res = await stack.api('POST', '/api/v1/rollouts', {
        softwareId,
        devices: { ids },
        options: { useDm: false, push },
        schedule,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };

    // the simulated handsets: follow every link that arrives, download it, sync the new version
    // assembled() builds new objects on every call: a message is known by recipient and arrival times
    const keyOf = (m: AssembledSms) => `${m.to}@${m.sms.map((p) => p.receivedAt.getTime()).join(',')}`;
    const handled = new Set<string>();
    const followed: string[] = [];
    let outage: Promise<void> | undefined;
    const linkOf = (m: AssembledSms): string | undefined => {
      if (m.ports?.dst === 2948) return decodeSi(decodeWapPushSms(m).body).href;
      return /https?:\/\/\S+/.exec(m.text)?.[0];
    };
    const handsets = async () => {
      for (const m of kannel.smsc.assembled()) {
        if (handled.has(keyOf(m))) continue;
        handled.add(keyOf(m));
        const link = linkOf(m);
        if (!link) continue;
        followed.push(m.to);
        if (followed.length === 5 && !outage) {
          // the gateway goes away while the other pushes are still to be sent
          outage = (async () => {
            await sendsmsProxy.down();
            await ppgProxy.down();
            await new Promise((r) => setTimeout(r, OUTAGE_MS));
            await sendsmsProxy.up();
            await ppgProxy.up();
          })();
        }
        const res = await fetch(link.replace(stack.config.publicUrl, stack.baseUrl));
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        const token = tokenByMsisdn.get(m.to.startsWith('+') ? m.to : `+${m.to.replace(/^00/, '')}`);
        expect(token, `device for ${m.to}`).toBeDefined();
        const sync = await stack.api('POST', '/api/v1/device/sync', { installed: { 'DME Client': '5.2' } }, token);
        expect(sync.status).toBe(200);
      }
    };

    const smsRollout = await start(
      'sms',
      devices.slice(0, DEVICES_PER_METHOD).map((d) => d.id),
    );
    const wapRollout = await start(
      'wap',
      devices.slice(DEVICES_PER_METHOD).map((d) => d.id),
    );

    let lastReport = Date.now();
    await until(
      'both rollouts completed',
      async () => {
        await handsets();
        const [a, b] = await Promise.all([
          stack.api('GET', `/api/v1/rollouts/${smsRollout}`),
          stack.api('GET', `/api/v1/rollouts/${wapRollout}`),
        ]);
        if (Date.now() - lastReport > 15_000) {
          lastReport = Date.now();
          console.log('[push-rollout-e2e]', {
            received: kannel.smsc.assembled().length,
            followed: followed.length,
            sms: a.body.counts,
            wap: b.body.counts,
          });
        }
        return a.body.state === 'completed' && b.body.state === 'completed' ? [a.body, b.body] : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    await outage;

    expect(outage, 'the outage happened mid-rollout').toBeDefined();
    for (const id of [smsRollout, wapRollout]) {
      const res = await stack.api('GET', `/api/v1/rollouts/${id}`);
      expect(res.body.counts).toEqual({ [STATUS.downloadedVerified]: DEVICES_PER_METHOD });
      expect(res.body.total).toBe(DEVICES_PER_METHOD);
    }
    // exactly one message per device at the SMSC, and one send record per push
    const perRecipient = new Map<string, number>();
    for (const m of kannel.smsc.assembled()) perRecipient.set(m.to, (perRecipient.get(m.to) ?? 0) + 1);
    expect(perRecipient.size).toBe(2 * DEVICES_PER_METHOD);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
    const rows = await stack.db('messages').select('idempotency_key', 'state', 'channel');
    expect(rows).toHaveLength(2 * DEVICES_PER_METHOD);
    expect(rows.filter((r) => r.channel === 'sms')).toHaveLength(DEVICES_PER_METHOD);
    expect(rows.filter((r) => r.channel === 'wap')).toHaveLength(DEVICES_PER_METHOD);
    expect(rows.every((r) => r.state === 'sent' || r.state === 'delivered')).toBe(true);
  }, 300_000);
});
