/**
 * A minimal fleet of devices for the fault tests, over the real interfaces only, and stubborn: while a
 * part of the system is down every request is retried (backoff, Retry-After), like a device would.
 *
 *  SMS (from `GET /api/v1/messages`, the recording transport; or handed over by a fake SMS gateway)
 *   → the device takes the link (each link once) → `GET /d/<ticket>` (whole file, SHA-256 checked;
 *   404/410: the link is dead, wait for the next push) → `POST /api/v1/device/reports` download-end
 *   success → installs → `POST /api/v1/device/sync` with the new version, again every `resyncMs` until
 *   the test says the job is final (a device syncs periodically; the server may have been down).
 *
 * Counters record what the devices saw, e.g. the same link twice (a second push for one attempt).
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FleetDevice {
  id: string;
  token: string;
  msisdn: string;
}

export interface FaultFleetOptions {
  baseUrl: string;
  /** Several API instances: each request goes to the next of them (default: `baseUrl` only). */
  baseUrls?: string[];
  adminKey: string;
  software: { name: string; version: string; sha256: string; size: number };
  devices: FleetDevice[];
  /** `messages`: poll the admin message list (recording transport); `gateway`: SMS come by `deliver`. */
  inbox: 'messages' | 'gateway';
  pollMs?: number;
  resyncMs?: number;
  /** Concurrent HTTP requests of the whole fleet. */
  concurrency?: number;
  /** A device acts on an SMS after a random delay up to this (default 2 s): jobs overlap. */
  reactionMs?: number;
  /** … and syncs its new version after a random delay up to this (default 2 s). */
  installMs?: number;
}

export interface FleetCounters {
  sms: number;
  /** The same link arrived again (a re-sent message of one push attempt). */
  duplicateLinks: number;
  downloads: number;
  /** Links answered 404/410 (dead). */
  deadLinks: number;
  reports: number;
  syncs: number;
  /** Failed attempts (network error, 5xx, 429), retried. */
  retries: number;
  byStatus: Record<string, number>;
  /** SMS that named no device of the fleet or held no link. */
  strays: number;
}

const digits = (msisdn: string) => msisdn.replace(/\D/g, '').replace(/^00/, '');
const UUID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i;

class Gate {
  private active = 0;
  private waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

type Outcome<T> = { done: T } | { retry: number | undefined };

export class FaultFleet {
  readonly counters: FleetCounters = {
    sms: 0,
    duplicateLinks: 0,
    downloads: 0,
    deadLinks: 0,
    reports: 0,
    syncs: 0,
    retries: 0,
    byStatus: {},
    strays: 0,
  };
  /** Errors that are not outages (a bug in the driver or the server's answers). */
  readonly errors: string[] = [];
  private readonly byMsisdn = new Map<string, FleetDevice>();
  private readonly links = new Set<string>();
  private readonly installed = new Set<string>();
  private readonly final = new Set<string>();
  private readonly seenMessages = new Set<string>();
  private readonly gate: Gate;
  private readonly tasks = new Set<Promise<void>>();
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: FaultFleetOptions) {
    setMaxListeners(0, this.abort.signal); // one listener per request in flight
    for (const d of o.devices) this.byMsisdn.set(digits(d.msisdn), d);
    this.gate = new Gate(o.concurrency ?? 16);
  }

  start(): void {
    if (this.o.inbox === 'messages') this.spawn(() => this.pollMessages());
    this.spawn(() => this.resyncLoop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.allSettled([...this.tasks]);
  }

  /** The test saw these devices' jobs final: they stop syncing. */
  finished(deviceIds: Iterable<string>): void {
    for (const id of deviceIds) this.final.add(id);
  }

  /** An SMS the network delivers (gateway inbox). `key`: the message's idempotency key, if known. */
  deliver(to: string, text: string, key?: string): void {
    this.takeSms(to, text, key ? UUID.exec(key)?.[1] : undefined);
  }

  private spawn(fn: () => Promise<void>): void {
    const p = fn()
      .catch((err) => {
        if (!this.stopped) this.errors.push(String((err as Error)?.stack ?? err));
      })
      .finally(() => this.tasks.delete(p));
    this.tasks.add(p);
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      /* stopped */
    }
  }

  private count(status: number | string): void {
    const k = String(status);
    this.counters.byStatus[k] = (this.counters.byStatus[k] ?? 0) + 1;
  }

  /** Repeats `attempt` until it is done (or the fleet stops): backoff 250 ms … 3 s, or Retry-After. */
  private async stubborn<T>(attempt: () => Promise<Outcome<T>>): Promise<T | undefined> {
    let delay = 250;
    while (!this.stopped) {
      let out: Outcome<T>;
      try {
        out = await this.gate.run(attempt);
      } catch {
        out = { retry: undefined }; // network error: the API itself is down or restarting
        this.count('network');
      }
      if ('done' in out) return out.done;
      this.counters.retries++;
      await this.pause(out.retry ?? delay);
      delay = Math.min(delay * 2, 3_000);
    }
    return undefined;
  }

  private nextBase = 0;

  private async request(method: string, path: string, token: string, body?: unknown): Promise<Response> {
    const bases = this.o.baseUrls?.length ? this.o.baseUrls : [this.o.baseUrl];
    const base = bases[this.nextBase++ % bases.length];
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(20_000)]),
    });
    this.count(res.status);
    return res;
  }

  private static retryAfter(res: Response): number | undefined {
    const s = Number(res.headers.get('retry-after'));
    return Number.isFinite(s) && s > 0 ? Math.min(s * 1000, 10_000) : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // inbox

  private async pollMessages(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.readMessages();
      } catch {
        this.count('network');
      }
      await this.pause(this.o.pollMs ?? 500);
    }
  }

  /** Newest first; pages back until a page holds only messages seen before (ids commit out of order: look back). */
  private async readMessages(): Promise<void> {
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res = await this.request(
        'GET',
        `/api/v1/messages?channel=sms&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
        this.o.adminKey,
      );
      if (res.status !== 200) return;
      const body = (await res.json()) as {
        messages: { id: string; to: string; body: string; installationId: string | null }[];
        nextCursor: string | null;
      };
      let fresh = 0;
      for (const m of body.messages) {
        if (this.seenMessages.has(m.id)) continue;
        this.seenMessages.add(m.id);
        fresh++;
        this.takeSms(m.to, m.body ?? '', m.installationId ?? undefined);
      }
      if (!body.nextCursor || fresh === 0) return;
      cursor = body.nextCursor;
    }
  }

  private takeSms(to: string, text: string, jobId: string | undefined): void {
    this.counters.sms++;
    const device = this.byMsisdn.get(digits(to));
    const link = /https?:\/\/\S+\/d\/([A-Za-z0-9_-]+)/.exec(text);
    if (!device || !link?.[1] || !jobId) {
      this.counters.strays++;
      return;
    }
    if (this.links.has(link[1])) {
      this.counters.duplicateLinks++;
      return;
    }
    this.links.add(link[1]);
    this.spawn(() => this.install(device, link[1]!, jobId));
  }

  // -------------------------------------------------------------------------------------------
  // a device's install

  private async install(device: FleetDevice, ticket: string, jobId: string): Promise<void> {
    await this.pause(Math.random() * (this.o.reactionMs ?? 2_000));
    const got = await this.stubborn<'ok' | 'dead'>(async () => {
      const res = await this.request('GET', `/d/${ticket}`, device.token);
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel();
        return { done: 'dead' };
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return { retry: FaultFleet.retryAfter(res) };
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (bytes.length !== this.o.software.size || sha !== this.o.software.sha256) {
        this.errors.push(`download ${ticket}: ${bytes.length} bytes, sha ${sha}`);
        return { retry: undefined };
      }
      return { done: 'ok' };
    });
    if (got !== 'ok') {
      if (got === 'dead') this.counters.deadLinks++;
      return;
    }
    this.counters.downloads++;
    await this.stubborn(async () => {
      const res = await this.request('POST', '/api/v1/device/reports', device.token, {
        jobId,
        phase: 'download-end',
        result: 'success',
      });
      await res.body?.cancel();
      if (res.status === 202 || res.status === 404) return { done: true };
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        this.errors.push(`report of ${device.id}: ${res.status}`);
        return { done: false };
      }
      return { retry: FaultFleet.retryAfter(res) };
    });
    this.counters.reports++;
    await this.pause(Math.random() * (this.o.installMs ?? 2_000));
    this.installed.add(device.id);
    await this.sync(device);
  }

  private async sync(device: FleetDevice): Promise<void> {
    await this.stubborn(async () => {
      const res = await this.request('POST', '/api/v1/device/sync', device.token, {
        installed: { [this.o.software.name]: this.o.software.version },
      });
      await res.body?.cancel();
      if (res.status === 200) return { done: true };
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        this.errors.push(`sync of ${device.id}: ${res.status}`);
        return { done: false };
      }
      return { retry: FaultFleet.retryAfter(res) };
    });
    this.counters.syncs++;
  }

  /** Installed devices whose job is not final yet sync again (their last sync may have been lost). */
  private async resyncLoop(): Promise<void> {
    const byId = new Map(this.o.devices.map((d) => [d.id, d]));
    while (!this.stopped) {
      await this.pause(this.o.resyncMs ?? 2_000);
      const due = [...this.installed].filter((id) => !this.final.has(id));
      await Promise.all(due.map((id) => this.sync(byId.get(id)!)));
    }
  }
}
