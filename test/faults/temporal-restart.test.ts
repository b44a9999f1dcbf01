/**
 * Fault: the Temporal dev server is stopped in the middle of a running rollout and started again on
 * its persistent SQLite file (same port) 15 s later. Worker, API and devices carry on once it is back; nothing
 * may be lost or done twice (test/helpers/fault-scenario.ts lists the checks). The file is in WAL mode
 * (devstack/dev-server.ts's default, as `npm start` runs it): what was committed before the stop is there after.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { describeResult, runFaultScenario } from '../helpers/fault-scenario';

const DEVICES = Number(process.env.FAULT_DEVICES || 200);

it(`Temporal dev server stopped mid-rollout (${DEVICES} devices) and restarted on its DB file: every job final once, nothing twice`, async () => {
  const result = await runFaultScenario({
    name: 'temporal-restart',
    devices: DEVICES,
    transport: 'recording',
    async fault(ctx) {
      // SQLite keeps a -wal file beside the database while it runs in WAL mode
      expect(existsSync(path.join(ctx.dir, 'temporal.db-wal'))).toBe(true);
      await ctx.temporal.stop();
      ctx.note(`dev server stopped at ${JSON.stringify(ctx.progress())}`);
      await sleep(15_000);
      await ctx.temporal.start();
      ctx.note('dev server started again on the same DB file');
    },
  });
  console.log(describeResult(result));
  // the fault hit a running rollout: starts still due, jobs in flight
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.progressAtFault.final).toBeLessThan(result.progressAtFault.started);
  // the worker survived the outage (it was not restarted)
  expect(result.workerStarts).toBe(1);
});
