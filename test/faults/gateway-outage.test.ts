/**
 * Fault: the SMS gateway (Kannel's sendsms interface, a fake on a fixed port) is down for 30 s in the
 * middle of a running rollout, and the SMTP server is down from the same moment until the rollout's
 * summary mail has failed at least once (so the outage hits that mail; ≥ 30 s). Pushes and the mail
 * are retried; no SMS is sent twice for one push attempt (requests per idempotency key at the
 * gateway) and exactly one summary mail arrives (test/helpers/fault-scenario.ts lists the other checks).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { describeResult, runFaultScenario } from '../helpers/fault-scenario';

const DEVICES = Number(process.env.FAULT_DEVICES || 200);

it(`SMS gateway down 30 s and SMTP down until the summary mail failed (${DEVICES} devices): every SMS once, one mail`, async () => {
  let smsBefore = 0;
  let smsDuringOutage = 0;
  const result = await runFaultScenario({
    name: 'gateway-outage',
    devices: DEVICES,
    transport: 'kannel',
    smtp: true,
    async fault(ctx) {
      const sendsms = ctx.sendsms!;
      const smtp = ctx.smtp!;
      await Promise.all([sendsms.stop(), smtp.stop()]);
      const down = Date.now();
      smsBefore = sendsms.received.length;
      ctx.note(`SMS gateway and SMTP stopped at ${JSON.stringify(ctx.progress())}, ${smsBefore} SMS sent so far`);
      await sleep(30_000);
      smsDuringOutage = sendsms.received.length - smsBefore;
      await sendsms.start();
      ctx.note(`SMS gateway up again at ${JSON.stringify(ctx.progress())}`);
      // SMTP stays down until the summary mail has failed at least once
      const key = `rollout/${ctx.rolloutId}/summary`;
      const { createDb } = await import('../../infra/db');
      const db = createDb(ctx.pg.url());
      try {
        const deadline = Date.now() + 300_000;
        for (;;) {
          if (Date.now() > deadline) throw new Error('the summary mail never failed while SMTP was down');
          const row = await db('messages').where({ idempotency_key: key }).first('state');
          if (row?.state === 'failed') break;
          await sleep(250);
        }
      } finally {
        await db.destroy();
      }
      await smtp.start();
      ctx.note(`summary mail failed; SMTP up again after ${((Date.now() - down) / 1000).toFixed(1)} s`);
    },
  });
  console.log(describeResult(result));
  // the fault hit a running rollout: starts still due, jobs in flight
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.progressAtFault.final).toBeLessThan(result.progressAtFault.started);
  expect(smsBefore).toBeGreaterThan(0);
  expect(smsDuringOutage).toBe(0);
  expect(result.mails).toBe(1);
  expect(result.pushes.gatewayRequests).toBe(DEVICES);
});
