/**
 * One virtual device, behaving like a real handset over the real interfaces:
 *  - it learns of a push from the messages the server sent to its MSISDN (SMS with a link, WAP push
 *    Service Indication, OMA DM binary pushes for its DM client), or — Mark for installation — from
 *    the `pending` list of its own system-info sync (it polls `POST /api/v1/device/sync`);
 *  - it reports `download-begin`, downloads the ticket link (`GET /d/<ticket>`; a share of devices is
 *    interrupted half-way and resumes with `Range: bytes=<n>-`), checks the SHA-256 against
 *    `X-Checksum-SHA256` and the software's, reports `download-end` and `post-install`, and after a
 *    delay syncs its new inventory (`installed: { <name>: <new version> }`);
 *  - on the OMA DM path its SimulatedDmClient (simulator/dm-client.ts) takes the bootstrap and the
 *    trigger, runs the DM sessions and the package download; the device then syncs the new version.
 * Failure knobs (one per device at most): never bootstraps (its DM client never opens a session),
 * DM install fails (the DM client reports SCOMO 1405), ignores SMS (SMS / WAP pushes are dropped),
 * never syncs (installs but never reports its inventory), offline (after the download the device
 * loses the network: its reports are queued and sent late — and twice — when it is back), install fails
 * (the download works, the installer does not: it reports `post-install` failure).
 * Every request is bounded (the fleet's limiter, timeouts, a bounded number of retries and polls).
 */
import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Platform } from '../domain/install-options';
import { type DmClientKnobs, SimulatedDmClient } from './dm-client';
import { type ApiClient, toHeaders } from './http';
import type { DeviceInbox, InboxMessage } from './inbox';

const FAILURE_KNOBS = ['neverBootstraps', 'dmFails', 'ignoresSms', 'neverSyncs', 'offline', 'installFails'] as const;
export type FailureKnob = (typeof FAILURE_KNOBS)[number];

export interface DeviceProfile {
  index: number;
  externalId: string;
  platform: Platform;
  msisdn: string;
  /** At most one failure knob. */
  knob: FailureKnob | null;
  /** The first download is interrupted half-way and resumed with a Range request. */
  interrupt: boolean;
  /** The install goes by OMA DM (Use DM on and applicable to this device). */
  dmPath: boolean;
  /** Inventory at registration. */
  installed: Record<string, string>;
}

export interface SoftwareUnderTest {
  id: string;
  name: string;
  version: string;
  kind: 'dme-client' | 'other';
  sha256: string;
  size: number;
}

export interface DeviceTiming {
  /** Delay between install and the system-info sync reporting the new version. */
  syncDelayMs: number;
  /** How long an `offline` device stays without network after its download. */
  offlineMs: number;
  /** Mark for installation: interval of the device's polling syncs (jittered ±50 %). */
  pollIntervalMs: number;
  /** Upper bound of the random delay before a device reacts to a push. */
  reactionMs: number;
}

/** Counters shared by the fleet (progress line and summary). */
export interface DeviceCounters {
  pushesReceived: number;
  pushesIgnored: number;
  dmPushes: number;
  downloadsOk: number;
  downloadsFailed: number;
  interruptedResumed: number;
  reportsSent: number;
  reportsDuplicateAcked: number;
  reportsLate: number;
  syncs: number;
  pollSyncs: number;
  dmInstallsReported: number;
  dmInstallsFailedReported: number;
  offlineNow: number;
  errors: number;
}

export const newCounters = (): DeviceCounters => ({
  pushesReceived: 0,
  pushesIgnored: 0,
  dmPushes: 0,
  downloadsOk: 0,
  downloadsFailed: 0,
  interruptedResumed: 0,
  reportsSent: 0,
  reportsDuplicateAcked: 0,
  reportsLate: 0,
  syncs: 0,
  pollSyncs: 0,
  dmInstallsReported: 0,
  dmInstallsFailedReported: 0,
  offlineNow: 0,
  errors: 0,
});

export interface DeviceEnv {
  api: ApiClient;
  software: SoftwareUnderTest;
  timing: DeviceTiming;
  counters: DeviceCounters;
  /** Aborted when the fleet stops: every wait ends. */
  signal: AbortSignal;
  /** First errors are kept for the summary. */
  onError(device: VirtualDevice, what: string, err: unknown): void;
}

interface QueuedReport {
  jobId: string;
  phase: 'download-begin' | 'download-end' | 'post-install';
  result: 'success' | 'failure';
  detail?: string;
  reportedAt: string;
}

export interface DownloadOutcome {
  ok: boolean;
  bytes: number;
  sha256: string;
  resumed: boolean;
  detail?: string;
}

/** The link in an SMS text: the ticket link, or the file link inside an itms-services manifest link. */
export function linkInSms(text: string): { url: string; manifest: boolean } | undefined {
  const itms = /itms-services:\/\/\S*?[?&]url=([^&\s]+)/.exec(text);
  if (itms?.[1]) return { url: decodeURIComponent(itms[1]), manifest: true };
  const m = /(https?:\/\/\S+\/d\/[A-Za-z0-9_-]+)/.exec(text);
  return m?.[1] ? { url: m[1], manifest: false } : undefined;
}

export class VirtualDevice {
  id = '';
  token = '';
  installed: Record<string, string>;
  /** Jobs this device has acted on (by job id), with what it did. */
  readonly jobs = new Map<string, { url: string; outcome?: 'downloaded' | 'failed' | 'dm-installed' | 'dm-failed' }>();
  dm?: SimulatedDmClient;
  inbox?: DeviceInbox;
  private readonly links = new Set<string>();
  private dmEventsSeen = 0;
  private tasks = new Set<Promise<unknown>>();
  private offline = false;
  private queue: QueuedReport[] = [];

  constructor(
    readonly profile: DeviceProfile,
    private readonly env: DeviceEnv,
  ) {
    this.installed = { ...profile.installed };
    if (profile.dmPath) {
      const knobs: DmClientKnobs = {};
      if (profile.knob === 'neverBootstraps') knobs.neverAnswer = true;
      if (profile.knob === 'dmFails') knobs.failInstall = true;
      this.dm = new SimulatedDmClient({
        deviceUri: `IMEI:${profile.externalId}`,
        knobs,
        fetch: env.api.fetch,
        rewriteUrl: (u) => env.api.rewrite(u),
      });
    }
  }

  /** Work still running (downloads, delayed syncs, late reports). */
  get busy(): number {
    return this.tasks.size;
  }

  private spawn(what: string, fn: () => Promise<void>): void {
    const p = fn()
      .catch((err) => {
        if (this.env.signal.aborted) return;
        this.env.counters.errors++;
        this.env.onError(this, what, err);
      })
      .finally(() => this.tasks.delete(p));
    this.tasks.add(p);
  }

  private async wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    await sleep(ms, undefined, { signal: this.env.signal });
  }

  /** A message the server sent to this device's MSISDN. */
  receive(m: InboxMessage): void {
    const c = this.env.counters;
    if (m.channel === 'binary') {
      c.dmPushes++;
      if (!this.dm || !m.payload) return;
      const dm = this.dm;
      const push = { contentType: m.contentType ?? '', body: Buffer.from(m.payload, 'base64'), applicationId: m.body };
      this.spawn('DM push', async () => {
        await this.wait(Math.random() * this.env.timing.reactionMs);
        await dm.receivePush(push);
        await this.afterDmActivity();
      });
      return;
    }
    if (m.channel !== 'sms' && m.channel !== 'wap') return;
    c.pushesReceived++;
    if (this.profile.knob === 'ignoresSms') {
      c.pushesIgnored++;
      return;
    }
    let link: { url: string; manifest: boolean } | undefined;
    if (m.channel === 'sms') link = linkInSms(m.body ?? '');
    else {
      try {
        const si = JSON.parse(m.body ?? '{}') as { href?: string };
        if (si.href) link = { url: si.href, manifest: false };
      } catch {
        link = undefined;
      }
    }
    if (!link || !m.installationId) {
      this.env.onError(this, 'push', new Error(`no link or job in ${m.channel} message ${m.id}`));
      return;
    }
    this.takeJob(m.installationId, link.url, link.manifest);
  }

  /** Mark for installation: the pending jobs of a sync answer. */
  takePending(pending: { jobId: string; url: string }[]): void {
    for (const p of pending) this.takeJob(p.jobId, p.url, false);
  }

  private takeJob(jobId: string, url: string, manifest: boolean): void {
    if (this.links.has(url)) return; // the same link twice (a re-sent message, a second sync)
    this.links.add(url);
    this.jobs.set(jobId, { url });
    this.spawn('install', async () => {
      await this.wait(Math.random() * this.env.timing.reactionMs);
      await this.install(jobId, manifest ? await this.ipaFromManifest(url) : url);
    });
  }

  private async ipaFromManifest(manifestUrl: string): Promise<string> {
    const res = await this.env.api.request('GET', this.env.api.rewrite(manifestUrl), { token: null });
    const m = /<key>url<\/key>\s*<string>([^<]+)<\/string>/.exec(String(res.body ?? ''));
    if (res.status !== 200 || !m?.[1]) throw new Error(`manifest ${res.status}`);
    return m[1].replace(/&amp;/g, '&');
  }

  /** The push path: report, download (maybe interrupted), report, install, sync later. */
  private async install(jobId: string, url: string): Promise<void> {
    const c = this.env.counters;
    await this.report({ jobId, phase: 'download-begin', result: 'success', reportedAt: new Date().toISOString() });
    const got = await this.download(this.env.api.rewrite(url), this.profile.interrupt);
    const job = this.jobs.get(jobId);
    if (!got.ok) {
      c.downloadsFailed++;
      if (job) job.outcome = 'failed';
      await this.report({
        jobId,
        phase: 'download-end',
        result: 'failure',
        detail: got.detail,
        reportedAt: new Date().toISOString(),
      });
      return;
    }
    c.downloadsOk++;
    if (got.resumed) c.interruptedResumed++;
    if (job) job.outcome = 'downloaded';
    if (this.profile.knob === 'offline') this.goOffline();
    await this.report({ jobId, phase: 'download-end', result: 'success', reportedAt: new Date().toISOString() });
    if (this.profile.knob === 'installFails') {
      if (job) job.outcome = 'failed';
      const detail = 'installer exit code 1603';
      await this.report({ jobId, phase: 'post-install', result: 'failure', detail, reportedAt: new Date().toISOString() });
      return;
    }
    this.installed[this.env.software.name] = this.env.software.version;
    await this.report({ jobId, phase: 'post-install', result: 'success', reportedAt: new Date().toISOString() });
    await this.syncNewVersionLater();
  }

  /** The DM client finished something: an install result means the new version is on the device. */
  private async afterDmActivity(): Promise<void> {
    const dm = this.dm as SimulatedDmClient;
    const events = dm.events.slice(this.dmEventsSeen);
    this.dmEventsSeen = dm.events.length;
    for (const e of events) {
      if (e.type !== 'install-reported') continue;
      const job = this.jobs.get(e.pkgId) ?? { url: '' };
      this.jobs.set(e.pkgId, job);
      if (e.code === 1200) {
        this.env.counters.dmInstallsReported++;
        job.outcome = 'dm-installed';
        this.installed[this.env.software.name] = this.env.software.version;
        if (this.profile.knob === 'offline') this.goOffline();
        await this.syncNewVersionLater();
      } else {
        this.env.counters.dmInstallsFailedReported++;
        job.outcome = 'dm-failed';
      }
    }
  }

  private goOffline(): void {
    if (this.offline) return;
    this.offline = true;
    this.env.counters.offlineNow++;
    this.spawn('offline', async () => {
      await this.wait(this.env.timing.offlineMs);
      this.offline = false;
      this.env.counters.offlineNow--;
      // D5: the queued reports go out late — and twice (the device was not sure they had left).
      const queued = this.queue;
      this.queue = [];
      for (let round = 0; round < 2; round++) {
        for (const r of queued) {
          this.env.counters.reportsLate++;
          await this.send(r);
        }
      }
    });
  }

  private async syncNewVersionLater(): Promise<void> {
    if (this.profile.knob === 'neverSyncs') return;
    await this.wait(this.env.timing.syncDelayMs);
    while (this.offline) await this.wait(Math.max(50, Math.min(1_000, this.env.timing.offlineMs / 4)));
    await this.sync(false);
  }

  private async report(r: QueuedReport): Promise<void> {
    if (this.offline) {
      this.queue.push(r);
      return;
    }
    await this.send(r);
  }

  private async send(r: QueuedReport): Promise<void> {
    const res = await this.env.api.expect<{ accepted: boolean; duplicate: boolean }>([202], 'POST', '/api/v1/device/reports', {
      token: this.token,
      body: {
        jobId: r.jobId,
        phase: r.phase,
        result: r.result,
        reportedAt: r.reportedAt,
        ...(r.detail ? { detail: r.detail } : {}),
      },
    });
    this.env.counters.reportsSent++;
    if (res.body?.duplicate) this.env.counters.reportsDuplicateAcked++;
  }

  /** System-info sync (D4); `poll`: a Mark-for-installation poll (its pending jobs are taken). */
  async sync(poll: boolean): Promise<{ pending: { jobId: string; url: string }[] }> {
    const res = await this.env.api.expect<{ pending: { jobId: string; url: string }[] }>([200], 'POST', '/api/v1/device/sync', {
      token: this.token,
      body: { installed: this.installed, info: { simulator: true, platform: this.profile.platform } },
    });
    if (poll) this.env.counters.pollSyncs++;
    else this.env.counters.syncs++;
    const pending = res.body?.pending ?? [];
    if (poll && pending.length > 0) this.takePending(pending);
    return { pending };
  }

  /**
   * Mark for installation: sync every `pollIntervalMs` (±50 %) until a pending job has been taken or
   * `until()` says stop; at most `maxPolls` syncs.
   */
  async pollForPending(until: () => boolean, maxPolls: number): Promise<void> {
    if (this.profile.knob === 'neverSyncs') return; // it never syncs: it never learns of the job
    for (let i = 0; i < maxPolls && !until() && !this.env.signal.aborted; i++) {
      const { pending } = await this.sync(true);
      if (pending.length > 0) return;
      await this.wait(this.env.timing.pollIntervalMs * (0.5 + Math.random()));
    }
  }

  /** `device` inbox mode: poll the own messages until `until()`; at most `maxPolls`. */
  async pollInbox(until: () => boolean, intervalMs: number, maxPolls: number): Promise<void> {
    if (!this.inbox) return;
    for (let i = 0; i < maxPolls && !until() && !this.env.signal.aborted; i++) {
      for (const m of await this.inbox.poll()) this.receive(m);
      await this.wait(intervalMs * (0.5 + Math.random()));
    }
  }

  /**
   * GET the ticket link; interrupted: read about half, drop the connection, resume with a Range
   * request from the first missing byte (If-Range: the ETag). The SHA-256 of what arrived must equal
   * the header's and the software's.
   */
  async download(url: string, interrupt: boolean): Promise<DownloadOutcome> {
    const api = this.env.api;
    const hash = createHash('sha256');
    let got = 0;
    const get = (endpoint: string, headers: Record<string, string>, cutAtFraction?: number) =>
      api.run(async () => {
        const t0 = performance.now();
        const abort = new AbortController();
        const timeout = setTimeout(() => abort.abort(), 120_000);
        let status = 0;
        try {
          const res = await api.open(url, { headers, signal: abort.signal });
          status = res.statusCode ?? 0;
          if (status !== 200 && status !== 206) {
            res.resume();
            await finished(res).catch(() => undefined);
            return { status, headers: toHeaders(res.rawHeaders), cut: false };
          }
          const length = Number(res.headers['content-length'] ?? 0);
          const stopAt = cutAtFraction === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(length * cutAtFraction));
          let read = 0;
          let cut = false;
          for await (const value of res as AsyncIterable<Buffer>) {
            hash.update(value);
            got += value.length;
            read += value.length;
            if (read >= stopAt && read < length) {
              cut = true;
              abort.abort();
              break;
            }
          }
          return { status, headers: toHeaders(res.rawHeaders), cut };
        } finally {
          clearTimeout(timeout);
          api.latency?.record(endpoint, performance.now() - t0, status);
        }
      });

    const fail = (detail: string): DownloadOutcome => ({ ok: false, bytes: got, sha256: '', resumed: false, detail });
    const first = await get(interrupt ? 'GET /d/:ticket (interrupted)' : 'GET /d/:ticket', {}, interrupt ? 0.5 : undefined);
    if (first.status !== 200) return fail(`HTTP ${first.status}`);
    const expected = first.headers.get('x-checksum-sha256');
    const etag = first.headers.get('etag');
    const size = Number(first.headers.get('content-length') ?? -1);
    let resumed = false;
    if (first.cut) {
      const second = await get('GET /d/:ticket (Range resume)', {
        range: `bytes=${got}-`,
        ...(etag ? { 'if-range': etag } : {}),
      });
      if (second.status !== 206) return fail(`resume: HTTP ${second.status} (expected 206)`);
      const range = second.headers.get('content-range');
      if (!range?.startsWith(`bytes `) || !range.endsWith(`/${size}`)) return fail(`resume: Content-Range ${range}`);
      resumed = true;
    }
    const sha256 = hash.digest('hex');
    if (size >= 0 && got !== size) return { ok: false, bytes: got, sha256, resumed, detail: `got ${got} of ${size} bytes` };
    if (!expected || sha256 !== expected) {
      return { ok: false, bytes: got, sha256, resumed, detail: `SHA-256 mismatch: got ${sha256}, header ${expected}` };
    }
    if (sha256 !== this.env.software.sha256) {
      return { ok: false, bytes: got, sha256, resumed, detail: `SHA-256 ${sha256} is not the uploaded file's` };
    }
    return { ok: true, bytes: got, sha256, resumed };
  }
}
