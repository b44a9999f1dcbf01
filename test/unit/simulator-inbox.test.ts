/**
 * The fleet simulator's SMS inbox (simulator/inbox.ts) against a fake messages endpoint on a fake
 * clock: ids are assigned at insert and become visible at commit, so a lower id can show up after a
 * higher one. The time-based look-back must deliver every message exactly once, while the `afterId`
 * each poll sends moves forward with time (the server then returns only the window).
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../simulator/expect';
import type { ApiClient } from '../../simulator/http';
import { DeviceInbox, FleetInbox, type InboxMessage } from '../../simulator/inbox';

/** `GET /api/v1/messages` over rows that become visible at their commit time (newest first, cursor = last id). */
class FakeMessages {
  private readonly rows: { id: number; to: string; visibleAt: number }[] = [];
  private nextId = 1;
  /** The fake clock (ms); each request takes `requestMs()` of it. */
  t = 0;
  requestMs = () => 5;
  /** Share of requests that fail (after taking their time). */
  failRate = 0;
  private failures = seededRandom(99);
  /** Every request's query and how many messages it returned. */
  readonly queries: URLSearchParams[] = [];
  readonly returned: number[] = [];

  /** Inserts a message now that commits `commitAfterMs` later; returns its id. */
  insert(commitAfterMs = 0, to = '+491'): number {
    const id = this.nextId++;
    this.rows.push({ id, to, visibleAt: this.t + commitAfterMs });
    return id;
  }

  get ids(): number[] {
    return this.rows.map((r) => r.id);
  }

  readonly now = () => this.t;

  readonly api = {
    expect: async (_ok: number[], method: string, path: string) => {
      expect(method).toBe('GET');
      const url = new URL(path, 'http://fake');
      expect(url.pathname).toBe('/api/v1/messages');
      const q = url.searchParams;
      this.queries.push(q);
      const snapshot = this.t; // the request's snapshot: what has committed when it starts
      this.t += this.requestMs();
      if (this.failRate > 0 && this.failures() < this.failRate) throw new Error('HTTP 503');
      const afterId = Number(q.get('afterId') ?? 0);
      const before = q.get('cursor') ? Number(q.get('cursor')) : Number.POSITIVE_INFINITY;
      const limit = Number(q.get('limit'));
      const to = q.get('to');
      const rows = this.rows
        .filter((r) => r.visibleAt <= snapshot && r.id > afterId && r.id < before && (!to || r.to === to))
        .sort((a, b) => b.id - a.id);
      const page = rows.slice(0, limit);
      this.returned.push(page.length);
      const messages: InboxMessage[] = page.map((r) => ({
        id: String(r.id),
        channel: 'sms',
        to: r.to,
        contentType: null,
        body: `m${r.id}`,
        payload: null,
        installationId: null,
      }));
      return {
        status: 200,
        headers: new Headers(),
        body: { messages, nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null },
      };
    },
  } as unknown as ApiClient;
}

/** A FleetInbox on the fake, with every delivery counted by id. */
function fleet(fake: FakeMessages, startAfter = 0) {
  const inbox = new FleetInbox(fake.api, startAfter, 250, { now: fake.now });
  const delivered = new Map<number, number>();
  const poll = () =>
    inbox.pollOnce((m) => {
      delivered.set(Number(m.id), (delivered.get(Number(m.id)) ?? 0) + 1);
    });
  const afterIds = () => fake.queries.map((q) => Number(q.get('afterId')));
  return { inbox, delivered, poll, afterIds };
}

describe('fleet inbox: time-based look-back', () => {
  it('delivers a lower id that becomes visible after higher ones (within the window) once, and nothing twice', async () => {
    const fake = new FakeMessages();
    const f = fleet(fake);
    const late = fake.insert(1_900); // id 1: its transaction commits 1.9 s after the insert
    for (let i = 0; i < 40; i++) fake.insert(); // ids 2…41 commit at once
    await f.poll();
    expect([...f.delivered.keys()]).not.toContain(late);
    expect(f.delivered.size).toBe(40);
    // polls every 250 ms for 5 s, a few new messages each time
    for (let step = 0; step < 20; step++) {
      fake.t += 250;
      for (let i = 0; i < 3; i++) fake.insert();
      await f.poll();
    }
    expect(f.delivered.get(late)).toBe(1);
    expect([...f.delivered.values()].every((n) => n === 1)).toBe(true);
    expect([...f.delivered.keys()].sort((a, b) => a - b)).toEqual(fake.ids);
    expect(f.inbox.delivered).toBe(fake.ids.length);
  });

  it('sends an afterId that moves forward as time passes: a poll reads a few seconds of messages, not a fixed page', async () => {
    const fake = new FakeMessages();
    fake.insert(); // id 1: a message of an earlier run (the inbox starts after it)
    const f = fleet(fake, 1);
    for (let step = 0; step < 40; step++) {
      for (let i = 0; i < 3; i++) fake.insert();
      await f.poll();
      fake.t += 250;
    }
    const sent = f.afterIds();
    expect(sent[0]).toBe(1);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!).toBeGreaterThanOrEqual(sent[i - 1]!);
    // the first polls keep the start (nothing seen 2 s before the previous poll yet) …
    expect(sent.slice(0, 6).every((a) => a === 1)).toBe(true);
    // … later ones follow the highest id seen ~2 s earlier: 10 polls of 3 messages behind, not 256 ids
    const last = sent[sent.length - 1]!;
    expect(last).toBeGreaterThan(80);
    expect(fake.ids.length - last).toBeLessThanOrEqual(3 * 11);
    expect(fake.returned.slice(-10).every((n) => n <= 3 * 11)).toBe(true);
    expect(f.delivered.size).toBe(fake.ids.length - 1);
    expect([...f.delivered.values()].every((n) => n === 1)).toBe(true);
  });

  it('keeps at least 16 ids of look-back (a burst) and never reads at or below the start', async () => {
    const fake = new FakeMessages();
    const f = fleet(fake);
    for (let step = 0; step < 20; step++) {
      fake.insert();
      await f.poll();
      fake.t += 250;
    }
    // 20 ids, one per poll: the time window alone would start at ~id 10; the floor keeps 16 behind
    expect(f.afterIds().every((a) => a <= Math.max(0, 20 - 16))).toBe(true);
    expect(f.delivered.size).toBe(20);
  });

  it('measures the look-back from the previous poll: a row committing in a long gap between polls is delivered', async () => {
    const fake = new FakeMessages();
    const f = fleet(fake);
    const late = fake.insert(1_900);
    for (let i = 0; i < 40; i++) fake.insert();
    await f.poll(); // sees 2…41 at t = 0
    fake.t = 5_000; // the next poll only 5 s later (a stalled API): id 1 committed at 1.9 s, in between
    await f.poll();
    expect(f.afterIds()).toEqual([0, 0]);
    expect(f.delivered.get(late)).toBe(1);
    expect(f.delivered.size).toBe(41);
  });

  it('random commit delays (≤ 2 s), poll gaps, request times and failed requests: every message exactly once', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = seededRandom(seed);
      const fake = new FakeMessages();
      const f = fleet(fake);
      fake.failRate = 0.1;
      fake.requestMs = () => 1 + Math.floor(rnd() * 300);
      let failures = 0;
      while (fake.t < 60_000) {
        const n = Math.floor(rnd() * 8);
        for (let i = 0; i < n; i++) fake.insert(rnd() < 0.2 ? Math.floor(rnd() * 2_000) : Math.floor(rnd() * 20));
        // a burst now and then (more than a page)
        if (rnd() < 0.01) for (let i = 0; i < 300; i++) fake.insert(Math.floor(rnd() * 500));
        await f.poll().catch(() => {
          failures++;
        });
        fake.t += 50 + Math.floor(rnd() * (rnd() < 0.05 ? 4_000 : 400));
      }
      // let the last commits land
      fake.failRate = 0;
      fake.t += 2_500;
      await f.poll();
      expect(failures).toBeGreaterThan(0);
      expect([...f.delivered.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect([...f.delivered.keys()].sort((a, b) => a - b)).toEqual(fake.ids);
      const sent = f.afterIds();
      for (let i = 1; i < sent.length; i++) expect(sent[i]!).toBeGreaterThanOrEqual(sent[i - 1]!);
      expect(sent[sent.length - 1]!).toBeGreaterThan(fake.ids.length / 2);
    }
  });
});

describe('device inbox', () => {
  it('asks for its own MSISDN above its start and delivers each of its messages once', async () => {
    const fake = new FakeMessages();
    fake.insert(0, '+499'); // before the start
    const inbox = new DeviceInbox(fake.api, '+491', 1);
    const mine = [fake.insert(0, '+491'), fake.insert(0, '+492'), fake.insert(0, '+491')];
    const got = (await inbox.poll()).map((m) => Number(m.id));
    expect(got).toEqual([mine[0], mine[2]]);
    fake.insert(0, '+491');
    expect((await inbox.poll()).map((m) => m.id)).toEqual(['5']);
    expect(await inbox.poll()).toEqual([]);
    for (const q of fake.queries) {
      expect(q.get('to')).toBe('+491');
      expect(q.get('afterId')).toBe('1');
    }
  });
});
