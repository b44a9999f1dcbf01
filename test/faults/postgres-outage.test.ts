/**
 * Fault: PostgreSQL is stopped for 30 s in the middle of a running rollout and started again (same data
 * dir and port). Activities retry, the API answers errors and the devices retry; nothing may be lost
 * or done twice (test/helpers/fault-scenario.ts lists the checks).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { describeResult, runFaultScenario } from '../helpers/fault-scenario';

const DEVICES = Number(process.env.FAULT_DEVICES || 200);

it(`PostgreSQL down for 30 s mid-rollout (${DEVICES} devices): every job final once, nothing twice`, async () => {
  const result = await runFaultScenario({
    name: 'postgres-outage',
    devices: DEVICES,
    transport: 'recording',
    async fault(ctx) {
      await ctx.pg.stop();
      ctx.note(`PostgreSQL stopped at ${JSON.stringify(ctx.progress())}`);
      await sleep(30_000);
      await ctx.pg.start();
      ctx.note('PostgreSQL started again');
    },
  });
  console.log(describeResult(result));
  // the fault hit a running rollout: starts still due, jobs in flight
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.progressAtFault.final).toBeLessThan(result.progressAtFault.started);
  expect(result.workerStarts).toBe(1);
  // the fleet (its message poll, at least) met the outage and came through it
  expect(result.fleet.byStatus['500'] ?? 0).toBeGreaterThan(0);
});
