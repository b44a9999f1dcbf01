/**
 * Fault: the worker is killed with SIGKILL in the middle of a running rollout (installs being started,
 * pushed, downloaded and verified), and started again. Nothing may be lost or done twice
 * (test/helpers/fault-scenario.ts lists the checks).
 */
import { expect, it } from 'vitest';
import { describeResult, runFaultScenario } from '../helpers/fault-scenario';

const DEVICES = Number(process.env.FAULT_DEVICES || 200);

it(`worker killed with SIGKILL mid-rollout (${DEVICES} devices) and restarted: every job final once, nothing twice`, async () => {
  const result = await runFaultScenario({
    name: 'worker-sigkill',
    devices: DEVICES,
    transport: 'recording',
    async fault(ctx) {
      const pid = ctx.worker.pid();
      await ctx.worker.kill();
      ctx.note(`worker pid ${pid} killed (SIGKILL) at ${JSON.stringify(ctx.progress())}`);
      await ctx.worker.start();
      ctx.note(`worker restarted (pid ${ctx.worker.pid()})`);
    },
  });
  console.log(describeResult(result));
  // the fault hit a running rollout: starts still due, jobs in flight
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.progressAtFault.final).toBeLessThan(result.progressAtFault.started);
  expect(result.workerStarts).toBe(2);
});
