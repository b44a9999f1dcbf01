/**
 * The signal outbox (services/signal-outbox.ts) on a real PostgreSQL database, with a recording
 * Signaller: dedupe on enqueue, two dispatchers on one database delivering each row once, order per
 * workflow, backoff after failures, `stop()` during a batch, the nudge, and the retention delete.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../infra/db';
import {
  enqueueSignals,
  type OutboxSignal,
  outboxBacklog,
  type SignalDispatcher,
  type SignalDispatcherOptions,
  startSignalDispatcher,
} from '../../services/signal-outbox';
import type { Signaller, SignalOutcome } from '../../services/signals';
import { downloadedSignal, sysinfoSyncedSignal } from '../../workflows/messages';
import { createTestDatabase } from '../helpers/stack';
import { until } from '../helpers/until';

let db: Db;
let drop: () => Promise<void>;
const running: SignalDispatcher[] = [];

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDb(database.url);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await db('signal_outbox').delete();
});
afterAll(async () => {
  await db?.destroy();
  await drop?.();
});

interface Delivery {
  workflowId: string;
  name: string;
  arg: any;
  by: string;
}

/** Records what it delivers; `behave` may delay, fail (throw) or answer not-found per signal. */
function recorder(
  by: string,
  deliveries: Delivery[],
  behave: (d: Omit<Delivery, 'by'>) => Promise<SignalOutcome | undefined> | undefined = () => undefined,
): Signaller {
  return {
    async signal(workflowId, def, ...args) {
      const d = { workflowId, name: def.name, arg: args[0] };
      const outcome = (await behave(d)) ?? 'sent';
      deliveries.push({ ...d, by });
      return outcome;
    },
  };
}

function start(opts: Partial<SignalDispatcherOptions> & { signaller: Signaller }): SignalDispatcher {
  const d = startSignalDispatcher({ db, log: () => {}, pollMs: 50, ...opts });
  running.push(d);
  return d;
}

const synced = (workflowId: string, seq: number, dedupeKey?: string): OutboxSignal => ({
  workflowId,
  signal: sysinfoSyncedSignal,
  args: [{ installed: { seq: String(seq) } }],
  dedupeKey,
});

const allDelivered = () =>
  until('the outbox delivered', async () => ((await outboxBacklog(db)).pending === 0 ? true : undefined), { intervalMs: 50 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('enqueueSignals', () => {
  it('writes every signal; one with a dedupe key already queued (or earlier in the same call) is not new', async () => {
    expect(await enqueueSignals(db, [])).toEqual([]);
    expect(await enqueueSignals(db, [synced('w1', 1), synced('w1', 2, 'k1'), synced('w2', 1, 'k1'), synced('w2', 2)])).toEqual([
      true,
      true,
      false,
      true,
    ]);
    expect(await enqueueSignals(db, [synced('w3', 1, 'k1'), synced('w3', 2, 'k2')])).toEqual([false, true]);
    const rows = await db('signal_outbox').orderBy('id').select('workflow_id', 'signal', 'args', 'dedupe_key', 'attempts');
    expect(rows).toEqual([
      { workflow_id: 'w1', signal: 'sysinfoSynced', args: [{ installed: { seq: '1' } }], dedupe_key: null, attempts: 0 },
      { workflow_id: 'w1', signal: 'sysinfoSynced', args: [{ installed: { seq: '2' } }], dedupe_key: 'k1', attempts: 0 },
      { workflow_id: 'w2', signal: 'sysinfoSynced', args: [{ installed: { seq: '2' } }], dedupe_key: null, attempts: 0 },
      { workflow_id: 'w3', signal: 'sysinfoSynced', args: [{ installed: { seq: '2' } }], dedupe_key: 'k2', attempts: 0 },
    ]);
    // in the caller's transaction: rolled back with it
    await db
      .transaction(async (trx) => {
        await enqueueSignals(trx, [synced('w4', 1, 'k4')]);
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    expect(await db('signal_outbox').where({ workflow_id: 'w4' })).toEqual([]);
  });
});

describe('the dispatcher', () => {
  it('two dispatchers on one database deliver every row exactly once, each workflow in order', async () => {
    const deliveries: Delivery[] = [];
    // a few ms per signal, so that the two overlap
    const slow = () => sleep(Math.random() * 4).then(() => undefined);
    // batches smaller than a round of the workflows: the two claim different workflows' rows, and
    // each holds back the rows whose earlier ones the other has
    const workflows = Array.from({ length: 60 }, (_, i) => `wf-${i}`);
    const rows: OutboxSignal[] = [];
    for (let seq = 0; seq < 5; seq++) for (const w of workflows) rows.push(synced(w, seq));
    await enqueueSignals(db, rows);
    start({ signaller: recorder('a', deliveries, slow), batchSize: 10 });
    start({ signaller: recorder('b', deliveries, slow), batchSize: 10 });
    await allDelivered();
    expect(deliveries).toHaveLength(rows.length);
    const seen = new Set(deliveries.map((d) => `${d.workflowId}/${d.arg.installed.seq}`));
    expect(seen.size).toBe(rows.length);
    for (const w of workflows) {
      const seqs = deliveries.filter((d) => d.workflowId === w).map((d) => Number(d.arg.installed.seq));
      expect(seqs, w).toEqual([0, 1, 2, 3, 4]);
    }
    // both took part, and delivered rows without a dedupe key are gone
    expect(new Set(deliveries.map((d) => d.by))).toEqual(new Set(['a', 'b']));
    expect(await db('signal_outbox').count({ n: '*' })).toEqual([{ n: '0' }]);
  });

  it('a failed signal is kept with its error and retried with a capped backoff; later rows of its workflow wait, others go on', async () => {
    const deliveries: Delivery[] = [];
    const failedAt: number[] = [];
    const signaller = recorder('a', deliveries, async (d) => {
      if (d.workflowId === 'stuck' && failedAt.length < 4) {
        failedAt.push(Date.now());
        throw new Error('Temporal unreachable (test)');
      }
      return undefined;
    });
    await enqueueSignals(db, [synced('stuck', 1), synced('free', 1), synced('stuck', 2), synced('free', 2)]);
    // retry delays 100 ms, then 150 (200 capped), 150 (400 capped)
    start({ signaller, backoff: { baseMs: 100, maxMs: 150 } });
    // the other workflow is not held up
    await until('the free workflow delivered', async () =>
      deliveries.filter((d) => d.workflowId === 'free').length === 2 ? true : undefined,
    );
    await until('two failed attempts', async () => (failedAt.length >= 2 ? true : undefined), { intervalMs: 10 });
    const [first, second] = await db('signal_outbox').where({ workflow_id: 'stuck' }).orderBy('id');
    expect(first).toMatchObject({ delivered_at: null, last_error: expect.stringContaining('Temporal unreachable (test)') });
    expect(first.attempts).toBeGreaterThanOrEqual(1);
    expect(first.deliver_after.getTime()).toBeGreaterThan(first.created_at.getTime());
    // the second row of the stuck workflow is not tried before the first is delivered
    expect(second).toMatchObject({ attempts: 0, delivered_at: null });
    expect(deliveries.filter((d) => d.workflowId === 'stuck')).toEqual([]);

    await allDelivered();
    expect(failedAt).toHaveLength(4);
    expect(deliveries.filter((d) => d.workflowId === 'stuck').map((d) => d.arg.installed.seq)).toEqual(['1', '2']);
    const gaps = failedAt.slice(1).map((t, i) => t - failedAt[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(70);
    expect(gaps[1]).toBeGreaterThanOrEqual(120);
    expect(gaps[2]).toBeGreaterThanOrEqual(120);
    expect(gaps[2]).toBeLessThan(350); // capped: not the 400 ms the doubling would give
  });

  it('a closed or unknown workflow (not-found) counts as delivered', async () => {
    const deliveries: Delivery[] = [];
    await enqueueSignals(db, [synced('gone', 1), synced('gone', 2, 'gone-2')]);
    start({ signaller: recorder('a', deliveries, async (): Promise<SignalOutcome> => 'not-found') });
    await allDelivered();
    expect(deliveries).toHaveLength(2);
    expect(await db('signal_outbox').select('dedupe_key', 'attempts')).toEqual([{ dedupe_key: 'gone-2', attempts: 0 }]);
  });

  it('nudge() delivers at once, without waiting for the poll', async () => {
    const deliveries: Delivery[] = [];
    const d = start({ signaller: recorder('a', deliveries), pollMs: 60_000 });
    await sleep(100); // its first (empty) batch is done; now it sleeps for a minute
    await enqueueSignals(db, [synced('w', 1)]);
    const t0 = Date.now();
    d.nudge();
    await allDelivered();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(deliveries).toHaveLength(1);
  });

  it('stop() during a batch waits for it: the signal sent is recorded as delivered, nothing is claimed after', async () => {
    const deliveries: Delivery[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let inFlight!: () => void;
    const started = new Promise<void>((r) => (inFlight = r));
    await enqueueSignals(db, [synced('w', 1, 'w-1')]);
    const d = start({
      signaller: recorder('a', deliveries, async () => {
        inFlight();
        await released;
        return undefined;
      }),
    });
    await started;
    let stopped = false;
    const stopping = d.stop().then(() => (stopped = true));
    await sleep(200);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(deliveries).toHaveLength(1);
    expect((await db('signal_outbox').first('delivered_at', 'attempts'))?.delivered_at).toBeInstanceOf(Date);
    // stopped: a new row stays queued
    await enqueueSignals(db, [synced('w', 2)]);
    d.nudge();
    await sleep(200);
    expect((await outboxBacklog(db)).pending).toBe(1);
  });

  it('delivered rows with a dedupe key are kept for the retention (the key stays taken), then deleted', async () => {
    const deliveries: Delivery[] = [];
    const key = 'downloaded:job:1';
    const downloaded: OutboxSignal = { workflowId: 'w', signal: downloadedSignal, args: [{ source: 'report' }], dedupeKey: key };
    await enqueueSignals(db, [downloaded, synced('w', 1)]);
    start({ signaller: recorder('a', deliveries), retentionMs: 60_000, cleanupEveryMs: 50 });
    await allDelivered();
    // the keyless row went at once; the keyed one is kept, and its key dedupes a second copy
    expect(await db('signal_outbox').select('dedupe_key')).toEqual([{ dedupe_key: key }]);
    expect(await enqueueSignals(db, [downloaded])).toEqual([false]);
    // past the retention, the dispatcher deletes it: the key is free again
    await db('signal_outbox').update({ delivered_at: db.raw("now() - interval '2 minutes'") });
    await until('the expired row deleted', async () => ((await db('signal_outbox')).length === 0 ? true : undefined), {
      intervalMs: 50,
    });
    expect(await enqueueSignals(db, [downloaded])).toEqual([true]);
    await allDelivered();
    expect(deliveries.map((d) => d.name)).toEqual(['downloaded', 'sysinfoSynced', 'downloaded']);
  });
});
