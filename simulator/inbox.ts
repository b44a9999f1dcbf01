/**
 * How virtual devices receive their pushes with the default `recording` transport: the messages the
 * server "sent" are read from `GET /api/v1/messages` (admin; newest first, cursor-paged).
 *
 * - `fleet` mode (default): ONE poller plays the operator's SMSC for the whole fleet — it reads the
 *   messages newer than the last one it saw (paging back until it meets it) and hands each to the
 *   device owning the MSISDN. Cost: one request per interval whatever the fleet size.
 * - `device` mode: every device waiting for a push polls `GET /api/v1/messages?to=<its MSISDN>` itself
 *   (closest to "each handset has its own inbox"; fine for small fleets, N requests per interval).
 * Each message is delivered once (by id). Ids are assigned at insert but rows become visible at commit,
 * so a lower id can appear after a higher one: every poll looks back `LOOKBACK_IDS` ids behind the
 * highest seen and skips what it already delivered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './http';

export interface InboxMessage {
  id: string;
  channel: 'sms' | 'wap' | 'binary' | 'mail';
  to: string;
  contentType: string | null;
  body: string | null;
  /** base64 (binary pushes). */
  payload: string | null;
  installationId: string | null;
  createdAt?: string;
}

interface MessagesPage {
  messages: InboxMessage[];
  nextCursor: string | null;
}

/** Newest message id right now (start of a run: older messages belong to earlier runs). */
export async function latestMessageId(api: ApiClient): Promise<number> {
  const res = await api.expect<MessagesPage>([200], 'GET', '/api/v1/messages?limit=1');
  return Number(res.body.messages[0]?.id ?? 0);
}

/** Messages with id > `after` (optionally to one recipient), oldest first; at most `maxPages` pages. */
async function messagesSince(
  api: ApiClient,
  after: number,
  opts: { to?: string; pageSize?: number; maxPages?: number } = {},
): Promise<InboxMessage[]> {
  const out: InboxMessage[] = [];
  let cursor: string | null = null;
  // a poll needs the look-back window plus what arrived since the last one: small pages, more only when needed
  const size = opts.pageSize ?? LOOKBACK_IDS + 128;
  for (let page = 0; page < (opts.maxPages ?? 1000); page++) {
    const q = new URLSearchParams({ limit: String(size) });
    if (opts.to) q.set('to', opts.to);
    if (cursor) q.set('cursor', cursor);
    const res = await api.expect<MessagesPage>([200], 'GET', `/api/v1/messages?${q}`);
    let reached = false;
    for (const m of res.body.messages) {
      if (Number(m.id) <= after) {
        reached = true;
        break;
      }
      out.push(m);
    }
    cursor = res.body.nextCursor;
    if (reached || !cursor) break;
  }
  return out.reverse();
}

/** How far behind the newest seen id each poll looks again (concurrent inserts commit out of order). */
const LOOKBACK_IDS = 256;

/** Remembers delivered ids near the top; returns the messages not delivered before. */
class Deduper {
  private readonly seen = new Set<number>();
  lastId: number;
  constructor(readonly startAfter: number) {
    this.lastId = startAfter;
  }
  /** Where the next poll starts reading (a look-back behind the highest id seen, never before the start). */
  get after(): number {
    return Math.max(this.startAfter, this.lastId - LOOKBACK_IDS);
  }
  fresh(msgs: InboxMessage[]): InboxMessage[] {
    const out: InboxMessage[] = [];
    for (const m of msgs) {
      const id = Number(m.id);
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      if (id > this.lastId) this.lastId = id;
      out.push(m);
    }
    if (this.seen.size > 4 * LOOKBACK_IDS) {
      const min = this.lastId - LOOKBACK_IDS;
      for (const id of this.seen) if (id <= min) this.seen.delete(id);
    }
    return out;
  }
}

export class FleetInbox {
  private readonly dedupe: Deduper;
  private stopped = false;
  private loop?: Promise<void>;
  /** Requests made and messages delivered (for the summary). */
  polls = 0;
  delivered = 0;
  errors = 0;

  constructor(
    private readonly api: ApiClient,
    startAfter: number,
    private readonly intervalMs: number,
  ) {
    this.dedupe = new Deduper(startAfter);
  }

  start(deliver: (m: InboxMessage) => void): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.pollOnce(deliver).catch(() => {
          this.errors++;
        });
        await sleep(this.intervalMs);
      }
    })();
  }

  async pollOnce(deliver: (m: InboxMessage) => void): Promise<number> {
    this.polls++;
    const msgs = this.dedupe.fresh(await messagesSince(this.api, this.dedupe.after));
    for (const m of msgs) {
      this.delivered++;
      deliver(m);
    }
    return msgs.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** One device's own inbox (`device` mode). */
export class DeviceInbox {
  private readonly dedupe: Deduper;
  constructor(
    private readonly api: ApiClient,
    readonly msisdn: string,
    startAfter: number,
  ) {
    this.dedupe = new Deduper(startAfter);
  }

  /** New messages to this MSISDN (its own messages are few: the look-back costs nothing). */
  async poll(): Promise<InboxMessage[]> {
    return this.dedupe.fresh(
      await messagesSince(this.api, this.dedupe.startAfter, { to: this.msisdn, pageSize: 50, maxPages: 5 }),
    );
  }
}
