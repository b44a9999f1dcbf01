/**
 * `npm run simulate -- [options]`: a fleet of virtual devices against a running DeviceRollout
 * (e.g. `npm start`), over the real HTTP interfaces. It registers the devices, uploads a software
 * file, starts a rollout (quota unlimited by default), plays the devices until every job is final
 * (or --timeout) and prints a summary (counts per status, expected vs actual per knob, latencies).
 *
 *   npm run simulate -- --api http://127.0.0.1:3000 --admin-key dra_… --devices 200 \
 *     --platforms symbian,android --push sms --interrupt-share 0.2 --sync-delay 2s \
 *     --never-bootstraps 0.05 --dm-fails 0.05 --ignores-sms 0.05 --never-syncs 0.05 --offline 0.05
 *
 * Jobs whose device never answers end only after the server's timeouts (PUSH_TICKET_LIFETIME 7d,
 * VERIFICATION_TIMEOUT 14d, BOOTSTRAP_TIMEOUT 1h by default): start the server with short ones to
 * see them end, e.g. `PUSH_TICKET_LIFETIME=60s VERIFICATION_TIMEOUT=90s BOOTSTRAP_TIMEOUT=30s
 * DM_INSTALL_TIMEOUT=60s npm start`. `--help` lists every option.
 */
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import { isPlatform, type Platform } from '../domain/install-options';
import { parseBytes, parseDuration } from '../infra/config';
import { httpRolloutControl, type RolloutControl, withFallback } from './control';
import { goesByDm } from './expect';
import { Fleet } from './fleet';
import { ApiClient } from './http';
import { createLimiter } from './pool';
import { createProgressPrinter } from './progress';
import { LatencyRecorder } from './stats';
import { formatSummary } from './summary';

const HELP = `npm run simulate -- [options]

  --api URL[,URL…]          DeviceRollout API (loopback only); several instances
                            (npm run cluster) take the requests in turn [http://127.0.0.1:3000]
  --admin-key KEY           admin API key                              [$ADMIN_API_KEY]
  --devices N               number of virtual devices                  [200]
  --platforms a,b           platforms, round-robin                     [symbian,android]
  --push sms|wap|mark       push method of the rollout                 [sms]
  --use-dm                  Use DM (OMA DM path where it applies)      [off]
  --kind dme-client|other   software kind (dme-client is verified)     [dme-client]
  --file-size SIZE          size of the uploaded file                  [256k]
  --per-day N|unlimited     daily quota                                [unlimited]
  --window HH:MM-HH:MM      time window                                [00:00-24:00]
  --weekdays mon,tue,…      selected weekdays                          [every day]
  --time-zone TZ            schedule time zone                         [UTC]
  --start-date YYYY-MM-DD   first day                                  [today]
 device behaviour
  --interrupt-share F       share of downloads interrupted and resumed with Range   [0.2]
  --sync-delay DUR          install → system-info sync with the new version          [2s]
  --offline-for DUR         how long "offline" devices stay offline                  [5s]
  --poll-interval DUR       Mark for installation: devices' polling sync interval    [5s]
  --reaction DUR            max random delay before a device reacts to a push         [500ms]
 failure knobs (share of the fleet; one knob per device)
  --never-bootstraps F      its DM client never opens a session (needs --use-dm)      [0]
  --dm-fails F              its DM install reports SCOMO 1405 (needs --use-dm)        [0]
  --ignores-sms F           SMS / WAP pushes are ignored                              [0]
  --never-syncs F           installs, never reports its inventory                     [0]
  --offline F               offline after the download; reports sent late and twice   [0]
 running
  --concurrency N           parallel HTTP requests of the fleet       [32]
  --inbox fleet|device      one message poller, or one per device     [fleet]
  --inbox-interval DUR      message polling interval                  [250ms]
  --timeout DUR             stop waiting for final statuses after     [30m]
  --seed N                  knob assignment seed                      [random]
  --direct auto|never|always  start the rollout through PostgreSQL + Temporal when
                            POST /api/v1/rollouts is missing (auto), never, or always;
                            uses DATABASE_URL / TEMPORAL_ADDRESS (npm start's defaults)  [auto]
  --json FILE               also write the summary as JSON
  --plain                   plain progress lines even on a terminal
  --help`;

/** A duration that may be 0 ("0", "0s"). */
function duration(v: string, name: string): number {
  return /^\s*0+(?:\.0+)?\s*(ms|s|m|h|d)?\s*$/.test(v) ? 0 : parseDuration(v, name);
}

function share(v: string | undefined, name: string): number {
  const n = Number(v ?? 0);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--${name}: a share between 0 and 1, not ${v}`);
  return n;
}

async function lazyDirectControl(): Promise<RolloutControl> {
  const [{ loadConfig }, { createDb }, { connectClient }, services, { directRolloutControl }] = await Promise.all([
    import('../infra/config'),
    import('../infra/db'),
    import('../app/runtime'),
    import('../infra/addresses'),
    import('./direct'),
  ]);
  const config = loadConfig();
  let real: RolloutControl | undefined;
  const get = async () => {
    if (!real) {
      const db = createDb(services.databaseUrlOf(config));
      const client = await connectClient(config, services.temporalAddressOf(config));
      real = directRolloutControl({ db, client, taskQueue: config.taskQueue, timeouts: config.timeouts });
    }
    return real;
  };
  return {
    via: 'direct (PostgreSQL + Temporal client)',
    start: async (r) => (await get()).start(r),
    view: async (id) => (await get()).view(id),
    jobs: async (id) => (await get()).jobs(id),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      api: { type: 'string', default: 'http://127.0.0.1:3000' },
      'admin-key': { type: 'string' },
      devices: { type: 'string', default: '200' },
      platforms: { type: 'string', default: 'symbian,android' },
      push: { type: 'string', default: 'sms' },
      'use-dm': { type: 'boolean', default: false },
      kind: { type: 'string', default: 'dme-client' },
      'file-size': { type: 'string', default: '256k' },
      'per-day': { type: 'string', default: 'unlimited' },
      window: { type: 'string', default: '00:00-24:00' },
      weekdays: { type: 'string', default: 'mon,tue,wed,thu,fri,sat,sun' },
      'time-zone': { type: 'string', default: 'UTC' },
      'start-date': { type: 'string' },
      'interrupt-share': { type: 'string', default: '0.2' },
      'sync-delay': { type: 'string', default: '2s' },
      'offline-for': { type: 'string', default: '5s' },
      'poll-interval': { type: 'string', default: '5s' },
      reaction: { type: 'string', default: '500ms' },
      'never-bootstraps': { type: 'string', default: '0' },
      'dm-fails': { type: 'string', default: '0' },
      'ignores-sms': { type: 'string', default: '0' },
      'never-syncs': { type: 'string', default: '0' },
      offline: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '32' },
      inbox: { type: 'string', default: 'fleet' },
      'inbox-interval': { type: 'string', default: '250ms' },
      timeout: { type: 'string', default: '30m' },
      seed: { type: 'string' },
      direct: { type: 'string', default: 'auto' },
      json: { type: 'string' },
      plain: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const adminKey = values['admin-key'] ?? process.env.ADMIN_API_KEY;
  if (!adminKey) throw new Error('--admin-key (or ADMIN_API_KEY) is required: the key `npm start` printed at its first start');
  const platforms = values.platforms.split(',').map((p) => p.trim());
  for (const p of platforms) if (!isPlatform(p)) throw new Error(`--platforms: unknown platform ${p}`);
  const push = values.push;
  if (push !== 'sms' && push !== 'wap' && push !== 'mark') throw new Error('--push: sms, wap or mark');
  const kind = values.kind;
  if (kind !== 'dme-client' && kind !== 'other') throw new Error('--kind: dme-client or other');
  const inbox = values.inbox;
  if (inbox !== 'fleet' && inbox !== 'device') throw new Error('--inbox: fleet or device');
  const devices = Number(values.devices);
  if (!Number.isInteger(devices) || devices < 1 || devices > 1_000_000) throw new Error('--devices: 1 … 1,000,000');
  const concurrency = Number(values.concurrency);
  const [wStart, wEnd] = values.window.split('-');
  if (!wStart || !wEnd) throw new Error('--window: HH:MM-HH:MM');
  const perDay = values['per-day'] === 'unlimited' ? 'unlimited' : Number(values['per-day']);
  if (values.direct !== 'auto' && values.direct !== 'never' && values.direct !== 'always') {
    throw new Error('--direct: auto, never or always');
  }

  const latency = new LatencyRecorder();
  const api = new ApiClient({ baseUrl: values.api, adminKey, latency, limiter: createLimiter(concurrency) });
  const http = httpRolloutControl(api);
  const control =
    values.direct === 'always'
      ? await lazyDirectControl()
      : values.direct === 'auto'
        ? withFallback(http, await lazyDirectControl())
        : http;
  const progress = createProgressPrinter(values.plain ? { plain: true } : {});
  const fleet = new Fleet({
    api,
    control,
    devices,
    platforms: platforms as Platform[],
    push,
    useDm: values['use-dm'],
    kind,
    fileSize: parseBytes(values['file-size'], '--file-size'),
    schedule: {
      perDay,
      weekdays: values.weekdays.split(',').map((w) => w.trim()),
      window: { start: wStart, end: wEnd },
      timeZone: values['time-zone'],
      ...(values['start-date'] ? { startDate: values['start-date'] } : {}),
    },
    shares: {
      interrupt: share(values['interrupt-share'], 'interrupt-share'),
      neverBootstraps: share(values['never-bootstraps'], 'never-bootstraps'),
      dmFails: share(values['dm-fails'], 'dm-fails'),
      ignoresSms: share(values['ignores-sms'], 'ignores-sms'),
      neverSyncs: share(values['never-syncs'], 'never-syncs'),
      offline: share(values.offline, 'offline'),
    },
    timing: {
      syncDelayMs: duration(values['sync-delay'], '--sync-delay'),
      offlineMs: duration(values['offline-for'], '--offline-for'),
      pollIntervalMs: parseDuration(values['poll-interval'], '--poll-interval'),
      reactionMs: duration(values.reaction, '--reaction'),
    },
    inbox,
    inboxIntervalMs: parseDuration(values['inbox-interval'], '--inbox-interval'),
    timeoutMs: parseDuration(values.timeout, '--timeout'),
    seed: values.seed ? Number(values.seed) : undefined,
    onProgress: (p) => progress.update(p),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (values['use-dm']) {
    const notDm = platforms.filter((p) => !goesByDm(true, kind, p as Platform, platforms as Platform[]));
    if (notDm.length > 0) {
      throw new Error(
        `--use-dm: ${kind === 'dme-client' ? 'DME clients go' : 'software goes'} by OMA DM only to ${kind === 'dme-client' ? 'Symbian and Windows Mobile' : 'DM-capable'} devices (R1), not ${notDm.join(', ')}: the API refuses such a rollout; simulate those platforms in a run without --use-dm`,
      );
    }
  }
  if ((values['never-bootstraps'] !== '0' || values['dm-fails'] !== '0') && !values['use-dm']) {
    process.stderr.write('note: --never-bootstraps / --dm-fails only act on the OMA DM path: add --use-dm\n');
  }
  const summary = await fleet.run();
  progress.done();
  process.stdout.write(`${formatSummary(summary)}\n`);
  if (values.json) await fs.writeFile(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.allFinal && summary.mixOk !== false ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
