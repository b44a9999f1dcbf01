/**
 * One fault scenario (issue 6 "Fault tests"): its own PostgreSQL cluster and Temporal dev server (both
 * persistent, so they can be stopped and started again), the worker and the API as child processes,
 * optionally a fake SMS gateway and an SMTP server — then a paced rollout of a few hundred devices
 * answered by a simulated fleet (test/helpers/fault-fleet.ts), a fault injected while it runs, and
 * at the end the check that nothing was lost:
 *
 *  1. every device has exactly one job, which ended in exactly one final status (one transition into
 *     a final status in its log) — here `Downloaded – Verified`, since every device answers;
 *  2. one install workflow per device (Temporal visibility, by RolloutId), each with a single run;
 *  3. one push per attempt: per job, one message per push ticket (idempotency key `<job>:push:<n>`),
 *     no link delivered twice to a device, and — with the fake gateway — one gateway request per key;
 *  4. the rollout's counts — the API's and the rollout workflow's own result — equal the database's;
 *  5. no calendar day (rollout time zone) got more starts than the quota, and nothing started before
 *     the window opened.
 *
 * The rollout: `perDay` quota with a 3-minute window that opens at the current minute, the quota set
 * so that the devices' slots are spread over ~30 s from now (S5): the fault hits while installs are
 * still being started, pushed, downloaded and verified.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import knex from 'knex';
import { DateTime } from 'luxon';
import { expect } from 'vitest';
import { freePort } from '../../devstack/child-process';
import { FINAL_STATUSES, STATUS } from '../../domain/status';
import type { Db } from '../../infra/db';
import { newSecret } from '../../services/secrets';
import { type RolloutOutcome, rolloutWorkflowId } from '../../workflows/messages';
import { FaultFleet, type FleetCounters, type FleetDevice } from './fault-fleet';
import {
  type FakeSendsms,
  type NodeProcess,
  nodeProcess,
  type PostgresProcess,
  type RestartableSmtp,
  serviceEnv,
  startFakeSendsms,
  startPostgresProcess,
  startRestartableSmtp,
  startTemporalProcess,
  type TemporalProcess,
} from './processes';

/** What every scenario's fault gets, whatever it runs on. */
export interface ScenarioBase {
  dir: string;
  sendsms?: FakeSendsms;
  smtp?: RestartableSmtp;
  /** Admin requests go here (the first API instance). */
  baseUrl: string;
  /** Every API instance; the fleet spreads its requests over them. */
  baseUrls: string[];
  adminKey: string;
  rolloutId: string;
  total: number;
  /** Jobs that have started / are final, as last seen in the database. */
  progress(): { started: number; final: number };
  /** Resolves once `n` jobs are final (as seen by the progress poll). */
  untilFinal(n: number, timeoutMs?: number): Promise<void>;
  /** Text lines for the scenario report. */
  note(line: string): void;
}

/** The default parts: one PostgreSQL, one dev server, one worker, one API (child processes). */
interface DevServerParts {
  pg: PostgresProcess;
  temporal: TemporalProcess;
  worker: NodeProcess;
  api: NodeProcess;
}

type ScenarioContext = ScenarioBase & DevServerParts;

/** What `startParts` is asked for: ports and environment every DeviceRollout instance needs. */
export interface PartsRequest {
  name: string;
  dir: string;
  /** Ports of the API instances, chosen up front (the Kannel DLR URL names the first). */
  apiPorts: number[];
  adminKey: string;
  taskQueue: string;
  /** Transport settings (Kannel, SMTP). */
  extra: Record<string, string>;
  /** Registered stops, run in reverse at the end. */
  cleanups: Array<() => Promise<void>>;
  /** An admin request through the first API (for readiness checks). */
  admin(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** What a scenario runs on once started. */
export interface StartedParts<P> {
  temporalAddress: string;
  databaseUrl: string;
  /** Total starts of the DeviceRollout worker processes. */
  workerStarts(): number;
  parts: P;
}

export interface ScenarioOptionsOf<C> {
  name: string;
  devices: number;
  /** `recording` (messages table, read by the fleet through the API) or a fake `kannel` sendsms. */
  transport: 'recording' | 'kannel';
  /** Start an SMTP server and ask for the summary mail. */
  smtp?: boolean;
  /** Inject the fault once this many jobs have started (default: a third of the devices). */
  faultAfterStarted?: number;
  fault(ctx: C): Promise<void>;
  /** Give up waiting for the rollout after this long (default 6 minutes). */
  timeoutMs?: number;
  /** How many API instances (default 1). */
  apis?: number;
  /** Length of the rollout's window, opening at the current minute (default 3): the starts spread over what is left of it. */
  windowMinutes?: number;
}

export type ScenarioOptions = ScenarioOptionsOf<ScenarioContext>;

export interface ScenarioResult {
  name: string;
  devices: number;
  seconds: { setup: number; rollout: number; total: number };
  faultAtSeconds: number;
  /** Jobs started / final when the fault was injected. */
  progressAtFault: { started: number; final: number };
  finalCounts: Record<string, number>;
  pushes: { messages: number; gatewayRequests?: number; maxPerJob: number };
  fleet: FleetCounters;
  workerStarts: number;
  quota: { perDay: number; startsByDay: Record<string, number> };
  mails?: number;
  notes: string[];
}

const SOFTWARE = { name: 'Fault Client', version: '2.0' };
const SPREAD_SECONDS = 30;
const WINDOW_MINUTES = 3;
const NOTIFY = 'ops@example.com';

/** A zone whose local time is well inside a day (the window must not cross midnight). */
function pickZone(now: DateTime, windowMinutes: number): string {
  for (const zone of ['UTC', 'Asia/Tokyo', 'America/New_York']) {
    const local = now.setZone(zone);
    const minutes = local.hour * 60 + local.minute;
    if (minutes >= 5 && minutes + windowMinutes + 5 < 24 * 60) return zone;
  }
  throw new Error('no suitable time zone');
}

async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(500);
    }
  }
}

export function runFaultScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  return runScenario<DevServerParts>(o, startDevServerParts);
}

/** PostgreSQL and the Temporal dev server (persistent, restartable), then the API and the worker. */
async function startDevServerParts(r: PartsRequest): Promise<StartedParts<DevServerParts>> {
  const started = await Promise.allSettled([
    startPostgresProcess({ dataDir: path.join(r.dir, 'pg') }),
    startTemporalProcess({ dbFile: path.join(r.dir, 'temporal.db'), logFile: path.join(r.dir, 'temporal.log') }),
  ] as const);
  for (const x of started) if (x.status === 'fulfilled') r.cleanups.push(() => x.value.stop());
  for (const x of started) if (x.status === 'rejected') throw x.reason;
  const pg = (started[0] as PromiseFulfilledResult<PostgresProcess>).value;
  const temporal = (started[1] as PromiseFulfilledResult<TemporalProcess>).value;
  const apiPort = r.apiPorts[0]!;
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  const env = serviceEnv({
    temporalAddress: temporal.address,
    databaseUrl: pg.url(),
    adminKey: r.adminKey,
    apiPort,
    taskQueue: r.taskQueue,
    dataDir: path.join(r.dir, 'data'),
    extra: r.extra,
  });
  const api = nodeProcess({
    name: 'api',
    script: 'api/main.ts',
    env,
    logFile: path.join(r.dir, 'api.log'),
    ready: async () => (await fetch(`${baseUrl}/health`)).status === 200,
  });
  const worker = nodeProcess({
    name: 'worker',
    script: 'worker/main.ts',
    env,
    logFile: path.join(r.dir, 'worker.log'),
    // a workflow on the task queue whose activity writes to PostgreSQL: the worker serves
    ready: async () => (await r.admin('POST', '/api/v1/diagnostics/round-trip')).status === 200,
  });
  // one after the other: both migrate at start-up
  await api.start();
  r.cleanups.push(() => api.stop());
  await worker.start();
  r.cleanups.push(() => worker.stop());
  return {
    temporalAddress: temporal.address,
    databaseUrl: pg.url(),
    workerStarts: () => worker.starts(),
    parts: { pg, temporal, worker, api },
  };
}

/** A scenario on parts that `startParts` starts (the dev server above, or the cluster of test/cluster/). */
export async function runScenario<P>(
  o: ScenarioOptionsOf<ScenarioBase & P>,
  startParts: (r: PartsRequest) => Promise<StartedParts<P>>,
): Promise<ScenarioResult> {
  const t0 = Date.now();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `dr-fault-${o.name}-`));
  await fs.chmod(dir, 0o755);
  const notes: string[] = [];
  const note = (line: string) => notes.push(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
  const cleanups: Array<() => Promise<void>> = [];
  let ok = false;
  try {
    // ---- the parts
    const apiPorts: number[] = [];
    while (apiPorts.length < (o.apis ?? 1)) {
      const port = await freePort();
      if (!apiPorts.includes(port)) apiPorts.push(port);
    }
    const baseUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
    const baseUrl = baseUrls[0]!;
    const adminKey = newSecret('dra');
    const extra: Record<string, string> = {};
    let sendsms: FakeSendsms | undefined;
    let smtp: RestartableSmtp | undefined;
    if (o.transport === 'kannel') {
      const password = randomUUID();
      sendsms = await startFakeSendsms({ username: 'devicerollout', password });
      cleanups.push(() => sendsms!.stop());
      Object.assign(extra, {
        PUSH_TRANSPORT: 'kannel',
        KANNEL_SENDSMS_URL: sendsms.url,
        KANNEL_SENDSMS_USERNAME: 'devicerollout',
        KANNEL_SENDSMS_PASSWORD: password,
        // the channel puts the idempotency key into the dlr-url: the gateway can count requests per key
        KANNEL_DLR_URL: `${baseUrl}/callbacks/kannel/dlr`,
        // the fake sends no delivery reports: a retry has none to wait for (test/integration/channels-unanswered)
        KANNEL_DLR_WAIT_MS: '0',
        KANNEL_TIMEOUT_MS: '3000',
      });
    }
    if (o.smtp) {
      smtp = await startRestartableSmtp();
      cleanups.push(() => smtp!.stop());
      extra.SMTP_URL = smtp.url;
    }
    const admin = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${baseUrl}${p}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const started = await startParts({
      name: o.name,
      dir,
      apiPorts,
      adminKey,
      taskQueue: `faults-${o.name}`,
      extra,
      cleanups,
      admin,
    });

    // quiet: it polls through the PostgreSQL outage
    const db: Db = knex({
      client: 'pg',
      connection: { connectionString: started.databaseUrl },
      pool: { min: 0, max: 4 },
      acquireConnectionTimeout: 5_000,
      log: { warn: () => undefined, error: () => undefined, debug: () => undefined, deprecate: () => undefined },
    });
    cleanups.push(() => db.destroy());
    const connection = await Connection.connect({ address: started.temporalAddress });
    const client = new Client({ connection });
    cleanups.push(() => connection.close());

    // ---- devices and software
    const n = o.devices;
    const registered: FleetDevice[] = [];
    for (let i = 0; i < n; i += 500) {
      const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
        externalId: `fault-${o.name}-${i + j}`,
        platform: 'symbian',
        msisdn: `+4915${String(i + j).padStart(8, '0')}`,
        installed: { [SOFTWARE.name]: '1.0' },
      }));
      const res = await admin('POST', '/api/v1/devices', { devices: batch });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      res.body.devices.forEach((d: { id: string; token: string }, j: number) => {
        registered.push({ id: d.id, token: d.token, msisdn: batch[j]!.msisdn });
      });
    }
    const file = randomBytes(32 * 1024);
    const form = new FormData();
    form.append('name', SOFTWARE.name);
    form.append('version', SOFTWARE.version);
    form.append('kind', 'dme-client');
    form.append('platforms', 'symbian');
    form.append('file', new Blob([file]), 'fault-client.sisx');
    const swRes = await fetch(`${baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
      body: form,
    });
    const sw = (await swRes.json()) as { id: string; sha256: string };
    expect(swRes.status, JSON.stringify(sw)).toBe(201);

    // ---- the fleet
    const fleet = new FaultFleet({
      baseUrl,
      baseUrls,
      adminKey,
      software: { ...SOFTWARE, sha256: createHash('sha256').update(file).digest('hex'), size: file.length },
      devices: registered,
      inbox: o.transport === 'recording' ? 'messages' : 'gateway',
    });
    if (sendsms) sendsms.onSms = (sms) => fleet.deliver(sms.to, sms.text, sms.key);
    fleet.start();
    cleanups.push(() => fleet.stop());

    // ---- the rollout: slots spread over ~SPREAD_SECONDS from now, in a window opening this minute
    const now = DateTime.utc();
    const windowMinutes = o.windowMinutes ?? WINDOW_MINUTES;
    const timeZone = pickZone(now, windowMinutes);
    const local = now.setZone(timeZone);
    const windowStart = local.startOf('minute');
    const windowEnd = windowStart.plus({ minutes: windowMinutes });
    const perDay = Math.min(10_000, Math.ceil((n * windowMinutes * 60) / SPREAD_SECONDS));
    const schedule = {
      perDay,
      startDate: local.toISODate(),
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      window: { start: windowStart.toFormat('HH:mm'), end: windowEnd.toFormat('HH:mm') },
      timeZone,
    };
    const setupSeconds = (Date.now() - t0) / 1000;
    const tRollout = Date.now();
    const created = await admin('POST', '/api/v1/rollouts', {
      softwareId: sw.id,
      devices: { ids: registered.map((d) => d.id) },
      options: { useDm: false, push: 'sms', maxPushAttempts: 3 },
      schedule,
      timeouts: { ticketLifetime: '10m', verification: '10m' },
      notify: o.smtp ? [NOTIFY] : [],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rolloutId: string = created.body.id;
    note(`rollout ${rolloutId}: ${n} devices, ${perDay}/day in ${schedule.window.start}–${schedule.window.end} ${timeZone}`);

    // ---- watch the database (tolerating its outage)
    let seen = { started: 0, final: 0 };
    const finalDevices = new Set<string>();
    let watching = true;
    let lastNote = Date.now();
    const watcher = (async () => {
      while (watching) {
        if (Date.now() - lastNote >= 10_000) {
          lastNote = Date.now();
          note(`progress ${JSON.stringify(seen)}`);
        }
        try {
          const rows = await db('installations')
            .where({ rollout_id: rolloutId })
            .select('device_id', 'final', db.raw('started_at is not null as started'));
          const fresh: string[] = [];
          let started = 0;
          for (const r of rows) {
            if (r.started) started++;
            if (r.final && !finalDevices.has(r.device_id)) {
              finalDevices.add(r.device_id);
              fresh.push(r.device_id);
            }
          }
          fleet.finished(fresh);
          seen = { started, final: finalDevices.size };
        } catch {
          /* the database is down: try again */
        }
        await sleep(500);
      }
    })();
    cleanups.push(async () => {
      watching = false;
      await watcher;
    });

    const ctx: ScenarioBase & P = {
      ...started.parts,
      dir,
      sendsms,
      smtp,
      baseUrl,
      baseUrls,
      adminKey,
      rolloutId,
      total: n,
      progress: () => seen,
      async untilFinal(count, timeoutMs = 300_000) {
        const deadline = Date.now() + timeoutMs;
        while (seen.final < count) {
          if (Date.now() > deadline) throw new Error(`${o.name}: only ${seen.final} of ${count} jobs final`);
          await sleep(250);
        }
      },
      note,
    };

    // ---- the fault, while the rollout runs
    const faultAfter = o.faultAfterStarted ?? Math.ceil(n / 3);
    const deadline = Date.now() + (o.timeoutMs ?? 360_000);
    while (seen.started < faultAfter) {
      if (Date.now() > deadline)
        throw new Error(`${o.name}: the rollout never reached ${faultAfter} starts (${JSON.stringify(seen)})`);
      await sleep(100);
    }
    const faultAt = (Date.now() - tRollout) / 1000;
    const progressAtFault = { ...seen };
    note(`fault at ${JSON.stringify(seen)}`);
    await o.fault(ctx);
    note(`fault over at ${JSON.stringify(seen)}`);

    // ---- until the rollout is over
    let state = '';
    while (state !== 'completed') {
      if (Date.now() > deadline) {
        const byStatus = await db('installations')
          .where({ rollout_id: rolloutId })
          .groupBy('status')
          .select('status')
          .count({ n: '*' });
        throw new Error(
          `${o.name}: rollout not completed in time (state ${state}, ${JSON.stringify(seen)}, ${JSON.stringify(byStatus)}); ` +
            `fleet ${JSON.stringify(fleet.counters)}, errors ${JSON.stringify(fleet.errors.slice(0, 5))}; logs in ${dir}`,
        );
      }
      await sleep(500);
      try {
        state = (await db('rollouts').where({ id: rolloutId }).first('state'))?.state ?? '';
      } catch {
        state = '';
      }
    }
    const rolloutSeconds = (Date.now() - tRollout) / 1000;
    note(`rollout completed after ${rolloutSeconds.toFixed(1)} s`);
    const outcome = (await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).result()) as RolloutOutcome;

    let mails: number | undefined;
    if (smtp) {
      const key = `rollout/${rolloutId}/summary`;
      await retry(
        'summary mail sent',
        async () => {
          const row = await db('messages').where({ idempotency_key: key }).first('state');
          if (row?.state !== 'sent') throw new Error(`state ${row?.state}`);
        },
        180_000,
      );
      // give a duplicate the chance to show up
      await sleep(1_000);
      mails = smtp.received.length;
      expect(
        smtp.received.map((m) => m.to),
        'one summary mail, to the notify address',
      ).toEqual([[NOTIFY]]);
    }

    // ---- nothing lost
    await fleet.stop();
    expect(fleet.errors, 'the fleet saw no protocol errors').toEqual([]);
    const jobs = await db('installations')
      .where({ rollout_id: rolloutId })
      .select('id', 'device_id', 'status', 'final', 'started_at');
    // 1. one job per device, each final, exactly one final transition in its log
    expect(jobs.length).toBe(n);
    expect(new Set(jobs.map((j) => j.device_id)).size).toBe(n);
    expect(new Set(jobs.map((j) => j.device_id))).toEqual(new Set(registered.map((d) => d.id)));
    for (const j of jobs) {
      expect(j.final, `job ${j.id}`).toBe(true);
      expect(FINAL_STATUSES.has(j.status), `job ${j.id}: ${j.status}`).toBe(true);
    }
    const finalCounts = Object.fromEntries(
      (await db('installations').where({ rollout_id: rolloutId }).groupBy('status').select('status').count({ n: '*' })).map(
        (r: any) => [r.status, Number(r.n)],
      ),
    );
    expect(finalCounts, 'every device answered: every job verified').toEqual({ [STATUS.downloadedVerified]: n });
    const finalTransitions = await db('installation_log as l')
      .join('installations as i', 'i.id', 'l.installation_id')
      .where('i.rollout_id', rolloutId)
      .where('l.event', 'status')
      .whereIn('l.to_status', [...FINAL_STATUSES])
      .groupBy('l.installation_id')
      .select('l.installation_id')
      .count({ n: '*' });
    expect(finalTransitions.length).toBe(n);
    expect(
      finalTransitions.filter((r: any) => Number(r.n) !== 1),
      'one final transition per job',
    ).toEqual([]);

    // 2. one install workflow per device, one run each
    const runs = new Map<string, number>();
    for await (const w of client.workflow.list({ query: `RolloutId = '${rolloutId}' AND WorkflowType = 'installWorkflow'` })) {
      runs.set(w.workflowId, (runs.get(w.workflowId) ?? 0) + 1);
      expect(w.status.name, w.workflowId).toBe('COMPLETED');
    }
    expect(runs.size, 'install workflows').toBe(n);
    expect(
      [...runs.values()].filter((c) => c !== 1),
      'one run per install workflow',
    ).toEqual([]);
    expect(new Set([...runs.keys()].map((id) => id.split('/')[2]))).toEqual(new Set(registered.map((d) => d.id)));

    // 3. one push per attempt
    const tickets = await db('push_tickets as t')
      .join('installations as i', 'i.id', 't.installation_id')
      .where('i.rollout_id', rolloutId)
      .select('t.installation_id', 't.attempt');
    const messages = await db('messages as m')
      .join('installations as i', 'i.id', 'm.installation_id')
      .where('i.rollout_id', rolloutId)
      .select('m.idempotency_key', 'm.installation_id', 'm.state', 'm.channel');
    const expectedKeys = tickets.map((t: any) => `${t.installation_id}:push:${t.attempt}`).sort();
    expect(messages.map((m: any) => m.idempotency_key).sort(), 'one message per push ticket').toEqual(expectedKeys);
    expect(
      messages.filter((m: any) => m.state !== 'sent'),
      'every push sent',
    ).toEqual([]);
    const perJob = new Map<string, number>();
    for (const m of messages) perJob.set(m.installation_id, (perJob.get(m.installation_id) ?? 0) + 1);
    expect(fleet.counters.duplicateLinks, 'no device got the same link twice').toBe(0);
    let gatewayRequests: number | undefined;
    if (sendsms) {
      const perKey = new Map<string, number>();
      for (const r of sendsms.received) perKey.set(r.key ?? '?', (perKey.get(r.key ?? '?') ?? 0) + 1);
      expect(
        [...perKey].filter(([, c]) => c !== 1),
        'one gateway request per idempotency key',
      ).toEqual([]);
      expect([...perKey.keys()].sort(), 'the gateway got exactly the recorded pushes').toEqual(expectedKeys);
      gatewayRequests = sendsms.received.length;
    }

    // 4. counts: API and the rollout workflow's own bookkeeping equal the database's
    const view = await admin('GET', `/api/v1/rollouts/${rolloutId}`);
    expect(view.status).toBe(200);
    const nonZero = (c: Record<string, number>) => Object.fromEntries(Object.entries(c).filter(([, v]) => v > 0));
    expect(view.body.state).toBe('completed');
    expect(view.body.total).toBe(n);
    expect(nonZero(view.body.counts), 'API counts').toEqual(finalCounts);
    expect(nonZero(outcome.counts), 'rollout workflow counts').toEqual(finalCounts);
    expect(nonZero(outcome.dbCounts), 'rollout workflow dbCounts').toEqual(finalCounts);
    expect(outcome.finished).toBe(n);

    // 5. quota per calendar day of the rollout's zone; nothing before the window opened
    const startsByDay: Record<string, number> = {};
    for (const j of jobs) {
      expect(j.started_at, `job ${j.id} started`).not.toBeNull();
      const day = DateTime.fromJSDate(new Date(j.started_at)).setZone(timeZone).toISODate()!;
      startsByDay[day] = (startsByDay[day] ?? 0) + 1;
      expect(new Date(j.started_at).getTime()).toBeGreaterThanOrEqual(windowStart.toMillis());
    }
    for (const [day, count] of Object.entries(startsByDay)) expect(count, `starts on ${day}`).toBeLessThanOrEqual(perDay);
    for (const [day, count] of Object.entries(outcome.startsByDay))
      expect(count, `workflow starts on ${day}`).toBeLessThanOrEqual(perDay);

    ok = true;
    return {
      name: o.name,
      devices: n,
      seconds: { setup: round1(setupSeconds), rollout: round1(rolloutSeconds), total: round1((Date.now() - t0) / 1000) },
      faultAtSeconds: round1(faultAt),
      progressAtFault,
      finalCounts,
      pushes: { messages: messages.length, gatewayRequests, maxPerJob: Math.max(...perJob.values()) },
      fleet: fleet.counters,
      workerStarts: started.workerStarts(),
      quota: { perDay, startsByDay },
      mails,
      notes,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (ok) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    else console.error(`fault scenario ${o.name}: logs kept in ${dir}\n${notes.join('\n')}`);
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** One line for the report. */
export function describeResult(r: ScenarioResult): string {
  return [
    `${r.name}: ${r.devices} devices, setup ${r.seconds.setup}s, rollout ${r.seconds.rollout}s (fault at ${r.faultAtSeconds}s), total ${r.seconds.total}s`,
    `  final ${JSON.stringify(r.finalCounts)}; pushes ${r.pushes.messages}${r.pushes.gatewayRequests !== undefined ? ` (gateway requests ${r.pushes.gatewayRequests})` : ''}, max ${r.pushes.maxPerJob}/job; worker starts ${r.workerStarts}${r.mails !== undefined ? `; mails ${r.mails}` : ''}`,
    `  fleet: ${JSON.stringify(r.fleet)}`,
    ...r.notes.map((l) => `  ${l}`),
  ].join('\n');
}
