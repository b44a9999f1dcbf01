/**
 * Faults on the production shape (issue 17): a rollout against a multi-process Temporal cluster with
 * two DeviceRollout workers and two API instances, the fleet's requests spread over both APIs.
 * While it runs:
 *  - one worker and one API instance are killed with SIGKILL (the other pair carries on), then
 *    started again;
 *  - the history service is killed with SIGKILL and started again, then the frontend is restarted.
 * Nothing may be lost, nothing done twice, no quota exceeded (test/helpers/fault-scenario.ts lists
 * the checks: one final transition per job, one install workflow run per device, one push per
 * attempt — with the fake gateway one request per idempotency key —, counts, quota per day).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { runClusterScenario } from '../helpers/cluster-scenario';
import { describeResult } from '../helpers/fault-scenario';

const DEVICES = Number(process.env.CLUSTER_FAULT_DEVICES || 150);
/** The starts spread over what is left of a 2-minute window (60–120 s): the suite stays within its time. */
const WINDOW_MINUTES = 2;

it(`one worker and one API instance killed with SIGKILL mid-rollout (${DEVICES} devices, 2 + 2) and restarted: every job final once, nothing twice`, async () => {
  const result = await runClusterScenario({
    name: 'cluster-app-sigkill',
    devices: DEVICES,
    windowMinutes: WINDOW_MINUTES,
    transport: 'kannel',
    async fault(ctx) {
      const worker = ctx.app.workers[0]!.process;
      const api = ctx.app.apis[1]!.process;
      const pids = [worker.pid(), api.pid()];
      await Promise.all([worker.kill(), api.kill()]);
      ctx.note(`worker 1 (pid ${pids[0]}) and API 2 (pid ${pids[1]}) killed (SIGKILL) at ${JSON.stringify(ctx.progress())}`);
      // the other worker and API carry the rollout meanwhile
      const before = ctx.progress().final;
      await ctx.untilFinal(Math.min(ctx.total, before + 10), 120_000);
      ctx.note(`with one worker and one API: ${JSON.stringify(ctx.progress())}`);
      await Promise.all([worker.start(), api.start()]);
      ctx.note(`worker 1 (pid ${worker.pid()}) and API 2 (pid ${api.pid()}) started again`);
    },
  });
  console.log(describeResult(result));
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.progressAtFault.final).toBeLessThan(result.progressAtFault.started);
  expect(result.workerStarts).toBe(3);
});

it(`history service killed with SIGKILL and started again, then the frontend restarted, mid-rollout (${DEVICES} devices, 2 + 2): every job final once, nothing twice`, async () => {
  const result = await runClusterScenario({
    name: 'cluster-temporal-services',
    devices: DEVICES,
    windowMinutes: WINDOW_MINUTES,
    transport: 'recording',
    faultAfterStarted: Math.ceil(DEVICES / 4),
    async fault(ctx) {
      const history = ctx.cluster.services.history;
      const killed = history.pid();
      await history.kill();
      ctx.note(`history (pid ${killed}) killed (SIGKILL) at ${JSON.stringify(ctx.progress())}`);
      await sleep(5_000);
      await history.start();
      ctx.note(`history started again (pid ${history.pid()}) at ${JSON.stringify(ctx.progress())}`);
      // the rollout goes on on the new history process before the next fault
      const before = ctx.progress().final;
      await ctx.untilFinal(Math.min(ctx.total, before + 10), 180_000);
      const frontend = ctx.cluster.services.frontend;
      await frontend.stop();
      ctx.note(`frontend stopped at ${JSON.stringify(ctx.progress())}`);
      await frontend.start();
      ctx.note(`frontend started again (pid ${frontend.pid()})`);
      expect(history.starts()).toBe(2);
      expect(frontend.starts()).toBe(2);
    },
  });
  console.log(describeResult(result));
  expect(result.progressAtFault.started).toBeLessThan(DEVICES);
  expect(result.workerStarts).toBe(2);
});
