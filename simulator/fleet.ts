/**
 * A fleet of virtual devices driving one rollout end to end over the real interfaces:
 *   register the devices (`POST /api/v1/devices`, ≤ 1,000 per request) → upload a software file
 *   (`POST /api/v1/software`, one variant per platform format, same bytes) → start a rollout
 *   (`POST /api/v1/rollouts`, or the direct fallback) → deliver the pushes to the devices, let them
 *   download / report / sync → until every job is final (or the time limit) → summary with the
 *   counts per status, the expected mix per knob, device-side counters and endpoint latencies.
 * The library behind `npm run simulate`, the benchmark and test/integration/simulator.test.ts.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { PLATFORM_FORMATS, type Platform } from '../domain/install-options';
import { FINAL_STATUSES, type InstallStatus } from '../domain/status';
import { httpRolloutControl, type JobView, type RolloutControl, type RolloutHandle, type ScheduleRequest } from './control';
import {
  type DeviceCounters,
  type DeviceProfile,
  type DeviceTiming,
  type FailureKnob,
  newCounters,
  type SoftwareUnderTest,
  VirtualDevice,
} from './device';
import { assignKnobs, expectedStatus, goesByDm, NO_FAILURES, type Shares, seededRandom } from './expect';
import type { ApiClient } from './http';
import { DeviceInbox, FleetInbox, type InboxMessage, latestMessageId } from './inbox';
import type { LatencySummary } from './stats';

export interface FleetOptions {
  api: ApiClient;
  /** Default: the HTTP API. */
  control?: RolloutControl;
  devices: number;
  platforms: Platform[];
  push: 'sms' | 'wap' | 'mark';
  useDm: boolean;
  shares?: Partial<Shares>;
  timing?: Partial<DeviceTiming>;
  /** Size of the uploaded software file (bytes). */
  fileSize?: number;
  kind?: 'dme-client' | 'other';
  schedule?: ScheduleRequest;
  /** Select the devices by `{ filter: { platform } }` instead of ids (only when the run owns that platform). */
  selectByPlatform?: Platform;
  /** `fleet`: one poller for all (default); `device`: each device polls its own messages. */
  inbox?: 'fleet' | 'device';
  inboxIntervalMs?: number;
  progressIntervalMs?: number;
  /** Stop waiting for final statuses after this long (from the rollout start). */
  timeoutMs?: number;
  /** `waitUntilFinal` returns once this many jobs are final (default: all of the rollout's). */
  finalTarget?: number;
  seed?: number;
  /** Check every job's final status against its knob at the end (default: fleets ≤ 20,000). */
  verify?: boolean;
  onProgress?: (p: FleetProgress) => void;
  log?: (line: string) => void;
}

export interface FleetProgress {
  phase: 'registering' | 'uploading' | 'starting' | 'running' | 'done';
  elapsedMs: number;
  total: number;
  final: number;
  counts: Record<string, number>;
  state?: string;
  counters: DeviceCounters;
  registered: number;
}

interface KnobMix {
  devices: number;
  expected: Record<string, number>;
  actual: Record<string, number>;
  matched: number;
}

export interface FleetSummary {
  rolloutId: string;
  via: string;
  devices: number;
  platforms: Platform[];
  push: string;
  useDm: boolean;
  software: SoftwareUnderTest;
  /** Registration of the devices (ms) and the rollout start call (ms). */
  registerMs: number;
  startMs: number;
  /** Rollout start → the last job final (or the time limit). */
  elapsedMs: number;
  allFinal: boolean;
  total: number;
  final: number;
  installsPerSecond: number;
  counts: Record<string, number>;
  knobs: Record<string, number>;
  interrupted: number;
  /** Expected vs actual final statuses per knob ('none': no failure knob). */
  mix?: Record<string, KnobMix>;
  mixOk?: boolean;
  mismatches?: { externalId: string; knob: string; expected: string; actual: string | null }[];
  counters: DeviceCounters;
  inbox: { mode: string; polls: number; delivered: number; errors: number };
  latency: Record<string, LatencySummary & { statuses: Record<string, number> }>;
  errors: { device: string; what: string; message: string }[];
}

const DEFAULT_TIMING: DeviceTiming = { syncDelayMs: 2_000, offlineMs: 5_000, pollIntervalMs: 5_000, reactionMs: 500 };

/** File name per platform: the platform's preferred format. */
function fileNameFor(platform: Platform): string {
  const fmt = PLATFORM_FORMATS[platform][0] ?? 'bin';
  return `simulated-client.${fmt}`;
}

export class Fleet {
  readonly devices: VirtualDevice[] = [];
  readonly counters = newCounters();
  readonly control: RolloutControl;
  readonly runTag = randomInt(100_000, 1_000_000);
  software?: SoftwareUnderTest;
  rollout?: RolloutHandle;
  private readonly byMsisdn = new Map<string, VirtualDevice>();
  private readonly abort = new AbortController();
  private readonly errors: FleetSummary['errors'] = [];
  private readonly timing: DeviceTiming;
  private readonly shares: Shares;
  private inboxFeed?: FleetInbox;
  private registerMs = 0;
  private startMs = 0;
  private startedAt = 0;
  private registered = 0;
  private phase: FleetProgress['phase'] = 'registering';
  private last: { final: number; total: number; counts: Record<string, number>; state?: string } = {
    final: 0,
    total: 0,
    counts: {},
  };
  private loops: Promise<unknown>[] = [];

  constructor(readonly o: FleetOptions) {
    if (o.devices < 1) throw new Error('devices: at least 1');
    if (o.platforms.length === 0) throw new Error('platforms: at least one');
    this.control = o.control ?? httpRolloutControl(o.api);
    this.timing = { ...DEFAULT_TIMING, ...o.timing };
    setMaxListeners(0, this.abort.signal); // every waiting device listens to it
    this.shares = { ...NO_FAILURES, ...o.shares };
  }

  private get kind(): 'dme-client' | 'other' {
    return this.o.kind ?? 'dme-client';
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** Profiles (platform round-robin, knobs by seed) and the devices' registration. */
  async register(): Promise<void> {
    const t0 = performance.now();
    const { o } = this;
    const random = seededRandom(o.seed ?? this.runTag);
    const platformOf = (i: number) => o.platforms[i % o.platforms.length] as Platform;
    const dmPath = Array.from({ length: o.devices }, (_, i) => goesByDm(o.useDm, this.kind, platformOf(i), o.platforms));
    const { knob, interrupt } = assignKnobs(dmPath, o.push, this.shares, random);
    const name = 'Simulated DME Client';
    const fleet = this;
    const env = {
      api: o.api,
      get software() {
        return fleet.software as SoftwareUnderTest;
      },
      timing: this.timing,
      counters: this.counters,
      signal: this.abort.signal,
      onError: (d: VirtualDevice, what: string, err: unknown) => this.noteError(d.profile.externalId, what, err),
    };
    for (let i = 0; i < o.devices; i++) {
      const profile: DeviceProfile = {
        index: i,
        externalId: `sim-${this.runTag}-${i}`,
        platform: platformOf(i),
        msisdn: `+9${this.runTag}${String(i).padStart(8, '0')}`,
        knob: knob[i] ?? null,
        interrupt: !!interrupt[i],
        dmPath: !!dmPath[i],
        installed: { [name]: '1.0' },
      };
      const d = new VirtualDevice(profile, env);
      this.devices.push(d);
      this.byMsisdn.set(profile.msisdn, d);
    }
    // ≤ 1,000 devices per request (the API's limit), two requests at a time
    const batches: VirtualDevice[][] = [];
    for (let i = 0; i < this.devices.length; i += 1000) batches.push(this.devices.slice(i, i + 1000));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++] as VirtualDevice[];
        const res = await o.api.expect<{ devices: { id: string; externalId: string; token: string }[] }>(
          [201],
          'POST',
          '/api/v1/devices',
          {
            retry: false,
            body: {
              devices: batch.map((d) => ({
                externalId: d.profile.externalId,
                platform: d.profile.platform,
                msisdn: d.profile.msisdn,
                bootstrapped: false,
                installed: d.profile.installed,
              })),
            },
          },
        );
        const byExt = new Map(res.body.devices.map((x) => [x.externalId, x]));
        for (const d of batch) {
          const r = byExt.get(d.profile.externalId);
          if (!r) throw new Error(`registration did not return ${d.profile.externalId}`);
          d.id = r.id;
          d.token = r.token;
        }
        this.registered += batch.length;
        this.emit();
      }
    };
    await Promise.all([worker(), worker()]);
    this.registerMs = performance.now() - t0;
  }

  /** One software, one file variant per platform format (the same random bytes). */
  async uploadSoftware(): Promise<SoftwareUnderTest> {
    this.phase = 'uploading';
    const { o } = this;
    const bytes = randomBytes(o.fileSize ?? 256 * 1024);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const version = `2.${this.runTag}`;
    const form = new FormData();
    form.append('name', 'Simulated DME Client');
    form.append('version', version);
    form.append('kind', this.kind);
    form.append('platforms', o.platforms.join(','));
    const names = new Set(o.platforms.map(fileNameFor));
    for (const n of names) form.append('file', new Blob([bytes]), n);
    const multipart = new Response(form); // the multipart encoding fetch would send
    const headers = { authorization: `Bearer ${o.api.adminKey}`, 'content-type': multipart.headers.get('content-type') ?? '' };
    const payload = Buffer.from(await multipart.arrayBuffer());
    const res = await o.api.run(() => o.api.send(`${o.api.baseUrl}/api/v1/software`, { method: 'POST', headers, body: payload }));
    const body = JSON.parse(res.body.toString('utf8')) as {
      id: string;
      sha256: string;
      size: number;
      error?: { message: string };
    };
    if (res.status !== 201) throw new Error(`software upload: HTTP ${res.status} ${body.error?.message ?? ''}`);
    if (body.sha256 !== sha256) throw new Error(`software upload: the server computed ${body.sha256}, not ${sha256}`);
    this.software = { id: body.id, name: 'Simulated DME Client', version, kind: this.kind, sha256, size: bytes.length };
    return this.software;
  }

  /** Starts the rollout (quota unlimited by default) and the push delivery. */
  async startRollout(): Promise<RolloutHandle> {
    this.phase = 'starting';
    const { o } = this;
    if (!this.software) throw new Error('upload the software first');
    const afterId = await latestMessageId(o.api);
    const t0 = performance.now();
    this.startedAt = Date.now();
    this.rollout = await this.control.start({
      softwareId: this.software.id,
      devices: o.selectByPlatform ? { filter: { platform: o.selectByPlatform } } : { ids: this.devices.map((d) => d.id) },
      options: { useDm: o.useDm, push: o.push },
      schedule: o.schedule ?? {
        perDay: 'unlimited',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
        timeZone: 'UTC',
      },
    });
    this.startMs = performance.now() - t0;
    this.phase = 'running';
    this.startDelivery(afterId);
    return this.rollout;
  }

  private startDelivery(afterId: number): void {
    const { o } = this;
    const interval = o.inboxIntervalMs ?? 250;
    const stopped = () => this.abort.signal.aborted;
    const maxPolls = Math.ceil((o.timeoutMs ?? 30 * 60_000) / Math.max(50, interval)) + 1;
    if ((o.inbox ?? 'fleet') === 'fleet') {
      this.inboxFeed = new FleetInbox(o.api, afterId, interval);
      this.inboxFeed.start((m) => this.deliver(m));
    } else {
      for (const d of this.devices) {
        d.inbox = new DeviceInbox(o.api, d.profile.msisdn, afterId);
        this.loops.push(
          d.pollInbox(stopped, interval, maxPolls).catch((err) => this.noteError(d.profile.externalId, 'inbox', err)),
        );
      }
    }
    if (o.push === 'mark') {
      const polls = Math.ceil((o.timeoutMs ?? 30 * 60_000) / Math.max(50, this.timing.pollIntervalMs / 2)) + 1;
      for (const d of this.devices) {
        if (d.profile.dmPath && d.profile.knob !== 'neverBootstraps' && d.profile.knob !== 'dmFails') continue;
        this.loops.push(
          d
            .pollForPending(() => stopped() || d.jobs.size > 0, polls)
            .catch((err) => this.noteError(d.profile.externalId, 'poll', err)),
        );
      }
    }
  }

  private deliver(m: InboxMessage): void {
    this.byMsisdn.get(m.to)?.receive(m);
  }

  private noteError(device: string, what: string, err: unknown): void {
    if (this.abort.signal.aborted) return;
    if (this.errors.length < 50) this.errors.push({ device, what, message: err instanceof Error ? err.message : String(err) });
    if (this.errors.length <= 5) this.log(`device ${device}: ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  private emit(): void {
    this.o.onProgress?.({
      phase: this.phase,
      elapsedMs: this.startedAt ? Date.now() - this.startedAt : 0,
      total: this.last.total || this.o.devices,
      final: this.last.final,
      counts: this.last.counts,
      state: this.last.state,
      counters: this.counters,
      registered: this.registered,
    });
  }

  /** Waits until every job (or `finalTarget` jobs) is final (true) or the time limit (false), reporting progress. */
  async waitUntilFinal(): Promise<boolean> {
    const { o } = this;
    if (!this.rollout) throw new Error('start the rollout first');
    const deadline = this.startedAt + (o.timeoutMs ?? 30 * 60_000);
    const every = o.progressIntervalMs ?? 1_000;
    for (;;) {
      try {
        const v = await this.control.view(this.rollout.id);
        this.last = { final: v.final, total: v.total, counts: v.counts, state: v.state };
      } catch (err) {
        this.noteError('-', 'progress', err);
      }
      this.emit();
      if (this.last.total > 0 && this.last.final >= Math.min(this.last.total, o.finalTarget ?? this.last.total)) return true;
      if (Date.now() > deadline) return false;
      await sleep(every);
    }
  }

  /** Stops the delivery and the devices (letting running work finish for up to `graceMs`). */
  async stop(graceMs = 5_000): Promise<void> {
    const until = Date.now() + graceMs;
    while (Date.now() < until && this.devices.some((d) => d.busy > 0)) await sleep(100);
    this.abort.abort();
    await this.inboxFeed?.stop();
    await Promise.allSettled(this.loops);
    this.phase = 'done';
  }

  /** Runs everything: register, upload, start, wait, stop, summary. */
  async run(): Promise<FleetSummary> {
    await this.register();
    await this.uploadSoftware();
    await this.startRollout();
    const done = await this.waitUntilFinal();
    const elapsed = Date.now() - this.startedAt;
    await this.stop();
    return this.summary(done, elapsed);
  }

  /** The summary (reads every job's status when `verify`). */
  async summary(allFinal: boolean, elapsedMs: number): Promise<FleetSummary> {
    const { o } = this;
    const rollout = this.rollout as RolloutHandle;
    const v = await this.control.view(rollout.id).catch(() => undefined);
    if (v) this.last = { final: v.final, total: v.total, counts: v.counts, state: v.state };
    const knobs: Record<string, number> = {};
    for (const d of this.devices) {
      const k = d.profile.knob ?? 'none';
      knobs[k] = (knobs[k] ?? 0) + 1;
    }
    const s: FleetSummary = {
      rolloutId: rollout.id,
      via: this.control.via,
      devices: o.devices,
      platforms: o.platforms,
      push: o.push,
      useDm: o.useDm,
      software: this.software as SoftwareUnderTest,
      registerMs: Math.round(this.registerMs),
      startMs: Math.round(this.startMs),
      elapsedMs,
      allFinal,
      total: this.last.total,
      final: this.last.final,
      installsPerSecond: elapsedMs > 0 ? Math.round((this.last.final / (elapsedMs / 1000)) * 10) / 10 : 0,
      counts: this.last.counts,
      knobs,
      interrupted: this.devices.filter((d) => d.profile.interrupt).length,
      counters: { ...this.counters },
      inbox: {
        mode: o.inbox ?? 'fleet',
        polls: this.inboxFeed?.polls ?? 0,
        delivered: this.inboxFeed?.delivered ?? 0,
        errors: this.inboxFeed?.errors ?? 0,
      },
      latency: o.api.latency?.all() ?? {},
      errors: this.errors,
    };
    if (o.verify ?? o.devices <= 20_000) {
      const jobs = await this.control.jobs(rollout.id).catch((err) => {
        this.noteError('-', 'jobs', err);
        return undefined;
      });
      if (jobs) Object.assign(s, this.checkMix(jobs));
    }
    return s;
  }

  checkMix(jobs: JobView[]): Pick<FleetSummary, 'mix' | 'mixOk' | 'mismatches'> {
    const byDevice = new Map(jobs.map((j) => [j.deviceId, j]));
    const mix: Record<string, KnobMix> = {};
    const mismatches: NonNullable<FleetSummary['mismatches']> = [];
    for (const d of this.devices) {
      const k: FailureKnob | 'none' = d.profile.knob ?? 'none';
      const key = d.profile.dmPath ? `${k} (DM path)` : k;
      const m = mix[key] ?? { devices: 0, expected: {}, actual: {}, matched: 0 };
      mix[key] = m;
      const want: InstallStatus = expectedStatus(d.profile, { push: this.o.push, kind: this.kind });
      const job = byDevice.get(d.id);
      const got = job?.status ?? null;
      m.devices++;
      m.expected[want] = (m.expected[want] ?? 0) + 1;
      m.actual[got ?? 'none'] = (m.actual[got ?? 'none'] ?? 0) + 1;
      if (got === want && FINAL_STATUSES.has(got as InstallStatus)) m.matched++;
      else if (mismatches.length < 50)
        mismatches.push({ externalId: d.profile.externalId, knob: key, expected: want, actual: got });
    }
    const mixOk = Object.values(mix).every((m) => m.matched === m.devices);
    return { mix, mixOk, mismatches };
  }
}
