/**
 * The fleet simulator (issue 6) against the real stack (dev server, PostgreSQL, worker, HTTP API):
 * small fleets with every failure knob, each device's job must end in the final status its knob
 * implies, and the server must have seen what the devices did (interrupted downloads resumed, late
 * duplicate reports acknowledged as duplicates, DM sessions).
 *
 * Rollouts start through `POST /api/v1/rollouts` when that route exists, else through the direct
 * fallback (PostgreSQL rows + the rollout workflow via the Temporal client), like the benchmark.
 * The server's timeouts are short here so that the failure knobs end in seconds; they are wide
 * enough for the devices that do answer (the assertions are about statuses, never about timings).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { createRecordingChannel } from '../../infra/channels/recording';
import { createDmEngine } from '../../omadm/engine';
import { httpRolloutControl, withFallback } from '../../simulator/control';
import { directRolloutControl } from '../../simulator/direct';
import { Fleet } from '../../simulator/fleet';
import { ApiClient } from '../../simulator/http';
import { createLimiter } from '../../simulator/pool';
import { LatencyRecorder } from '../../simulator/stats';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      PUSH_TICKET_LIFETIME: '15s',
      VERIFICATION_TIMEOUT: '25s',
      BOOTSTRAP_TIMEOUT: '6s',
      DM_INSTALL_TIMEOUT: '20s',
    },
    deps: (db, config) => {
      const push = createRecordingChannel(db);
      return { push, dm: createDmEngine({ db, push, config }) };
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

function fleetApi() {
  const api = new ApiClient({
    baseUrl: stack.baseUrl,
    adminKey: stack.adminKey,
    latency: new LatencyRecorder(),
    limiter: createLimiter(16),
  });
  const control = withFallback(
    httpRolloutControl(api),
    directRolloutControl({
      db: stack.db,
      client: stack.client,
      taskQueue: stack.config.taskQueue,
      timeouts: stack.config.timeouts,
    }),
  );
  return { api, control };
}

describe('fleet simulator against the real stack', () => {
  it('20 devices, SMS push: interrupted downloads, ignores SMS, never syncs, offline — every job final with the expected status', async () => {
    const { api, control } = fleetApi();
    const fleet = new Fleet({
      api,
      control,
      devices: 20,
      platforms: ['symbian', 'android', 'windows-mobile-smartphone', 'ios'],
      push: 'sms',
      useDm: false,
      fileSize: 2 * 1024 * 1024,
      shares: { interrupt: 0.25, ignoresSms: 0.1, neverSyncs: 0.1, offline: 0.1 },
      timing: { syncDelayMs: 300, offlineMs: 2_000, pollIntervalMs: 1_000, reactionMs: 200 },
      timeoutMs: 150_000,
      seed: 6,
    });
    const s = await fleet.run();

    expect(s.allFinal).toBe(true);
    expect(s.final).toBe(20);
    expect(s.knobs).toEqual({ none: 14, ignoresSms: 2, neverSyncs: 2, offline: 2 });
    expect(s.mismatches).toEqual([]);
    expect(s.mixOk).toBe(true);
    expect(s.counts[STATUS.downloadedVerified]).toBe(16);
    expect(s.counts[STATUS.installationFailed]).toBe(2);
    expect(s.counts[STATUS.unknownStatus]).toBe(2);
    // what the devices did, as the server saw it
    expect(s.counters.pushesIgnored).toBe(s.counters.pushesReceived - 18);
    expect(s.counters.downloadsOk).toBe(18);
    expect(s.counters.downloadsFailed).toBe(0);
    expect(s.counters.interruptedResumed).toBeGreaterThan(0);
    expect(s.latency['GET /d/:ticket (Range resume)']?.statuses).toEqual({ '206': s.counters.interruptedResumed });
    // offline devices: download-end + post-install queued, each sent twice; the second is a duplicate
    expect(s.counters.reportsLate).toBe(2 * 2 * 2);
    expect(s.counters.reportsDuplicateAcked).toBe(2 * 2);
    expect(s.errors).toEqual([]);
    const offline = fleet.devices.filter((d) => d.profile.knob === 'offline');
    for (const d of offline) {
      const log = await stack.api('GET', `/api/v1/devices/${d.id}`);
      const reports = log.body.jobs[0].log.filter((l: any) => l.event === 'report').map((l: any) => l.message as string);
      expect(reports.filter((m: string) => m.startsWith('device report: post-install success'))).toHaveLength(1);
    }
  }, 240_000);

  it('OMA DM path: DM installs, a device that never bootstraps and one whose DM install fails fall back to SMS', async () => {
    const { api, control } = fleetApi();
    const fleet = new Fleet({
      api,
      control,
      devices: 8,
      platforms: ['symbian', 'windows-mobile-pocketpc'],
      push: 'sms',
      useDm: true,
      shares: { neverBootstraps: 0.125, dmFails: 0.125 },
      timing: { syncDelayMs: 300, offlineMs: 1_000, pollIntervalMs: 1_000, reactionMs: 100 },
      timeoutMs: 150_000,
      seed: 7,
    });
    const s = await fleet.run();

    expect(s.allFinal).toBe(true);
    expect(s.mismatches).toEqual([]);
    expect(s.mixOk).toBe(true);
    // (the API refuses Use DM for a rollout with devices it does not apply to, R1: only DM platforms here)
    expect(s.knobs).toEqual({ none: 6, neverBootstraps: 1, dmFails: 1 });
    expect(s.counts[STATUS.installedVerified]).toBe(6);
    expect(s.counts[STATUS.downloadedVerified]).toBe(2);
    expect(s.counters.dmInstallsReported).toBe(6);
    expect(s.counters.dmInstallsFailedReported).toBe(1);
    expect(s.errors).toEqual([]);
    const failing = fleet.devices.find((d) => d.profile.knob === 'dmFails')!;
    const dev = await stack.api('GET', `/api/v1/devices/${failing.id}`);
    const fallbacks = dev.body.jobs[0].log.filter((l: any) => l.event === 'fallback').map((l: any) => l.message as string);
    expect(fallbacks.some((m: string) => /DM install failed/.test(m))).toBe(true);
  }, 240_000);

  it('Mark for installation: devices learn of their job by polling sync; a device that never syncs never gets it', async () => {
    const { api, control } = fleetApi();
    const fleet = new Fleet({
      api,
      control,
      devices: 6,
      platforms: ['android', 'windows-ce'],
      push: 'mark',
      useDm: false,
      shares: { neverSyncs: 1 / 6, interrupt: 0.5 },
      timing: { syncDelayMs: 200, offlineMs: 1_000, pollIntervalMs: 700, reactionMs: 100 },
      inbox: 'device',
      timeoutMs: 150_000,
      seed: 8,
    });
    const s = await fleet.run();
    expect(s.allFinal).toBe(true);
    expect(s.mismatches).toEqual([]);
    expect(s.counts[STATUS.downloadedVerified]).toBe(5);
    expect(s.counts[STATUS.installationFailed]).toBe(1);
    expect(s.counters.pollSyncs).toBeGreaterThanOrEqual(5);
    expect(s.counters.pushesReceived).toBe(0);
    expect(s.errors).toEqual([]);
  }, 240_000);
});
