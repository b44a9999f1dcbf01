/**
 * How virtual devices receive their pushes with the default `recording` transport: the messages the
 * server "sent" are read from `GET /api/v1/messages` (admin; newest first, cursor-paged).
 *
 * - `fleet` mode (default): ONE poller plays the operator's SMSC for the whole fleet — it reads the
 *   messages of its window (`afterId`: the server returns only ids above the window's start) and hands
 *   each to the device owning the MSISDN. Cost: one request per interval whatever the fleet size, and
 *   rows for the window only (a few seconds of messages), not a fixed page.
 * - `device` mode: every device waiting for a push polls `GET /api/v1/messages?to=<its MSISDN>` itself
 *   (closest to "each handset has its own inbox"; fine for small fleets, N requests per interval).
 * Each message is delivered once (by id). Ids are assigned at insert but rows become visible at commit,
 * so a lower id can appear after a higher one. The look-back is by time: a poll re-reads from the
 * highest id that complete polls had seen `LOOKBACK_MS` before the previous complete poll started (and
 * at least `MIN_LOOKBACK_IDS` ids behind the highest seen), skipping what it already delivered. Sound as
 * long as a row commits within `LOOKBACK_MS` of getting its id: an id below one seen at time t was
 * assigned before t, so it is visible from t + LOOKBACK_MS on — by the previous poll's snapshot, which
 * read above the same or a lower start. Measured from the previous poll, not this one: a row committing
 * between two polls is still inside the next one's window however long the gap.
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

/** How long after getting its id a message row may still become visible (commit); see the header. */
const LOOKBACK_MS = 2_000;
/** The look-back never covers fewer ids than this behind the highest seen (a burst of inserts). */
const MIN_LOOKBACK_IDS = 16;
/** Fleet mode's page: the window is a few seconds of messages; a burst pages on. */
const FLEET_PAGE_SIZE = 256;

/**
 * Messages with id > `after` (optionally to one recipient), oldest first; at most `maxPages` pages.
 * `complete`: every message above `after` was read (not cut off by `maxPages`).
 */
async function messagesSince(
  api: ApiClient,
  after: number,
  opts: { to?: string; pageSize: number; maxPages: number },
): Promise<{ messages: InboxMessage[]; complete: boolean }> {
  const out: InboxMessage[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < opts.maxPages; page++) {
    const q = new URLSearchParams({ limit: String(opts.pageSize), afterId: String(after) });
    if (opts.to) q.set('to', opts.to);
    if (cursor) q.set('cursor', cursor);
    const res = await api.expect<MessagesPage>([200], 'GET', `/api/v1/messages?${q}`);
    let reached = false;
    for (const m of res.body.messages) {
      // the server filters by afterId; this stop also holds against one that ignores the parameter
      if (Number(m.id) <= after) {
        reached = true;
        break;
      }
      out.push(m);
    }
    cursor = res.body.nextCursor;
    if (reached || !cursor) return { messages: out.reverse(), complete: true };
  }
  return { messages: out.reverse(), complete: false };
}

/** One poll between `Deduper.begin` and `Deduper.fresh`. */
interface Poll {
  /** Read the messages with ids above this. */
  after: number;
  startedAt: number;
}

/**
 * Delivers each message once (by id) and says where each poll starts reading (the time-based
 * look-back of the header). Polls of one Deduper run one at a time.
 */
class Deduper {
  /** Delivered ids above the current start (what the server can still return). */
  private readonly seen = new Set<number>();
  /** Highest id delivered. */
  lastId: number;
  /** Highest id a complete poll has returned. */
  private high: number;
  /** After each complete poll: when it ended and `high` then; oldest first, pruned. */
  private readonly marks: { at: number; high: number }[] = [];
  /** When the last complete poll started. */
  private lastStart?: number;
  /** Where the last poll started reading: the next never starts lower (the ids below were forgotten). */
  private floor: number;
  private readonly now: () => number;

  /** `now`: milliseconds on a clock that does not step back (default `performance.now`). */
  constructor(
    readonly startAfter: number,
    opts: { now?: () => number } = {},
  ) {
    this.lastId = startAfter;
    this.high = startAfter;
    this.floor = startAfter;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Where the next poll starts reading: the highest id seen by polls that ended `LOOKBACK_MS` before
   * the last complete poll started, at least `MIN_LOOKBACK_IDS` behind the highest id seen, never
   * before the start.
   */
  get after(): number {
    let settled = this.startAfter;
    if (this.lastStart !== undefined) {
      const cutoff = this.lastStart - LOOKBACK_MS;
      for (const m of this.marks) {
        if (m.at > cutoff) break;
        settled = m.high;
      }
    }
    return Math.max(this.startAfter, Math.min(settled, this.lastId - MIN_LOOKBACK_IDS));
  }

  /** A poll starts: read above `after`. Ids at or below it are never returned again: forgotten. */
  begin(): Poll {
    const after = Math.max(this.floor, this.after);
    this.floor = after;
    for (const id of this.seen) if (id <= after) this.seen.delete(id);
    return { after, startedAt: this.now() };
  }

  /**
   * The poll's messages not delivered before. `complete`: the poll read every message above its
   * `after` (only complete polls move the look-back on).
   */
  fresh(msgs: InboxMessage[], poll: Poll, complete: boolean): InboxMessage[] {
    const out: InboxMessage[] = [];
    let high = this.high;
    for (const m of msgs) {
      const id = Number(m.id);
      if (id > high) high = id;
      if (id <= poll.after || this.seen.has(id)) continue;
      this.seen.add(id);
      if (id > this.lastId) this.lastId = id;
      out.push(m);
    }
    if (complete) {
      this.high = high;
      this.lastStart = poll.startedAt;
      this.marks.push({ at: this.now(), high });
      // the newest mark at or before the cutoff is the one `after` uses; cutoffs only move on
      const cutoff = poll.startedAt - LOOKBACK_MS;
      let keep = 0;
      while (keep + 1 < this.marks.length && this.marks[keep + 1]!.at <= cutoff) keep++;
      if (keep > 0) this.marks.splice(0, keep);
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
    opts: { now?: () => number } = {},
  ) {
    this.dedupe = new Deduper(startAfter, opts);
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
    const poll = this.dedupe.begin();
    const { messages, complete } = await messagesSince(this.api, poll.after, { pageSize: FLEET_PAGE_SIZE, maxPages: 1000 });
    const msgs = this.dedupe.fresh(messages, poll, complete);
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

  /** New messages to this MSISDN (the same time-based look-back; its own messages are few). */
  async poll(): Promise<InboxMessage[]> {
    const poll = this.dedupe.begin();
    const { messages, complete } = await messagesSince(this.api, poll.after, { to: this.msisdn, pageSize: 50, maxPages: 5 });
    return this.dedupe.fresh(messages, poll, complete);
  }
}
