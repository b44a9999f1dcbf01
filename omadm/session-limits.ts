/**
 * The client's limits on what the server sends (OMA-TS-DM_Protocol 1.2 §8.8 "Large objects" and
 * "Multiple messages in package"; SyncML MetInf MaxMsgSize / MaxObjSize): a reply never exceeds the
 * client's MaxMsgSize in the encoding it is sent in. Commands that do not fit wait in the session
 * (`pending`) and go out in the next messages, which the client asks for with Alert 1222; `Final` is
 * only on the last one. An item whose data alone does not fit is sent in chunks (`MoreData`, the
 * whole size in the first chunk's Meta), one chunk per message.
 */

import {
  type DmEncoding,
  type DmSessionState,
  type OutstandingCommand,
  PENDING_MSG_ID,
  type PendingCommand,
} from './session-model';
import { encodeMessage } from './session-reply';
import type { DmCommand, Item, SyncMLMessage } from './syncml';

/** Reads the limits the client announces in its SyncHdr Meta; they hold for the rest of the session. */
export function noteClientLimits(ses: DmSessionState, msg: SyncMLMessage): void {
  const meta = msg.header.meta;
  if (meta?.maxMsgSize !== undefined && meta.maxMsgSize > 0) ses.clientMaxMsgSize = meta.maxMsgSize;
  if (meta?.maxObjSize !== undefined && meta.maxObjSize > 0) ses.clientMaxObjSize = meta.maxObjSize;
}

/** Size of an item's data as the client counts it (bytes of its UTF-8 text). */
export function itemDataSize(item: Item): number {
  return Buffer.byteLength(item.data ?? '', 'utf8');
}

interface Queued {
  command: DmCommand;
  /** The rest of an item whose first chunk(s) went already. */
  continued?: boolean;
  /** Its outstanding entry, resolved before anything is renumbered. */
  tracked: OutstandingCommand | undefined;
}

/** A single-item Add/Replace whose data can be cut into chunks. */
function chunkable(c: DmCommand): c is Extract<DmCommand, { cmd: 'Add' | 'Replace' }> {
  return (c.cmd === 'Add' || c.cmd === 'Replace') && c.items.length === 1 && (c.items[0]?.data ?? '').length > 1;
}

/**
 * Cuts the item's data after `chars` code points: the head goes now with MoreData (and, for the first
 * chunk, the whole object's Size in its Meta); the tail is what remains, without Size.
 */
function splitItem(c: Extract<DmCommand, { cmd: 'Add' | 'Replace' }>, chars: number, first: boolean): [DmCommand, DmCommand] {
  const item = c.items[0] as Item;
  const points = Array.from(item.data ?? '');
  const { size: _size, ...metaWithoutSize } = item.meta ?? {};
  const head: Item = { ...item, data: points.slice(0, chars).join(''), moreData: true };
  if (first) head.meta = { ...metaWithoutSize, size: itemDataSize(item) };
  else if (item.meta) head.meta = metaWithoutSize;
  const tail: Item = { ...item, data: points.slice(chars).join('') };
  if (item.meta) tail.meta = metaWithoutSize;
  delete tail.moreData;
  return [
    { ...c, items: [head] },
    { ...c, items: [tail] },
  ];
}

/**
 * Puts as many of `commands` (this reply's, then the package's pending rest) into the reply as its
 * encoding and the client's MaxMsgSize allow, in order, renumbering their CmdIDs 1…n and moving their
 * outstanding entries to this message. The rest stays pending. Returns the commands sent, and whether
 * the package continues (no Final on this message).
 */
export function packReply(p: {
  ses: DmSessionState;
  serverMsgId: string;
  commands: DmCommand[];
  encoding: DmEncoding;
  /** The reply with the given commands (header, Final) as it would be sent. */
  build: (commands: DmCommand[]) => SyncMLMessage;
  /** Send the pending rest of the package after `commands` (else it keeps waiting, e.g. in a 407). */
  continuePackage: boolean;
}): { sent: DmCommand[]; packageContinues: boolean } {
  const { ses, serverMsgId } = p;
  const find = (msgId: string, cmdId: string) => ses.outstanding.find((o) => o.msgId === msgId && o.cmdId === cmdId);
  const queue: Queued[] = [
    ...p.commands.map((c) => ({ command: c, tracked: 'cmdId' in c && c.cmdId ? find(serverMsgId, c.cmdId) : undefined })),
    ...(p.continuePackage ? (ses.pending ?? []) : []).map((q) => ({
      command: q.command,
      tracked: find(PENDING_MSG_ID, q.key),
      continued: q.continued === true,
    })),
  ];
  // Not continuing (e.g. a 407 in the middle of a split package): the pending rest keeps waiting.
  const waiting: Queued[] = p.continuePackage
    ? []
    : (ses.pending ?? []).map((q) => ({
        command: q.command,
        tracked: find(PENDING_MSG_ID, q.key),
        continued: q.continued === true,
      }));
  const limit = ses.clientMaxMsgSize;
  const sent: DmCommand[] = [];
  const numbered = (c: DmCommand, n: number): DmCommand => ({ ...c, cmdId: String(n) }) as DmCommand;
  const fits = (commands: DmCommand[]) => limit === undefined || encodeMessage(p.build(commands), p.encoding).length <= limit;
  const place = (q: Queued, command: DmCommand) => {
    const id = String(sent.length + 1);
    sent.push(numbered(command, sent.length + 1));
    if (q.tracked) {
      q.tracked.msgId = serverMsgId;
      q.tracked.cmdId = id;
    }
  };

  let i = 0;
  for (; i < queue.length; i++) {
    const q = queue[i] as Queued;
    if (fits([...sent, numbered(q.command, sent.length + 1)])) {
      place(q, q.command);
      continue;
    }
    // Only an item too large for a message of its own (statuses aside) is cut into chunks; anything
    // else waits whole for the next message.
    if (chunkable(q.command) && !sent.some((c) => c.cmd !== 'Status')) {
      // The largest head of the data that fits: binary search over code points.
      const total = Array.from(q.command.items[0]?.data ?? '').length;
      let lo = 0;
      let hi = total - 1;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const [head] = splitItem(q.command, mid, !q.continued);
        if (fits([...sent, numbered(head, sent.length + 1)])) lo = mid;
        else hi = mid - 1;
      }
      if (lo > 0) {
        const [head, tail] = splitItem(q.command, lo, !q.continued);
        // The chunk is answered 213; the command's outstanding entry waits for the last chunk.
        sent.push(numbered(head, sent.length + 1));
        queue[i] = { command: tail, tracked: q.tracked, continued: true };
        break;
      }
    }
    const noProgress = p.continuePackage && q.command.cmd !== 'Status' && !sent.some((c) => c.cmd !== 'Status');
    if (sent.length === 0 || noProgress) {
      // Not even this command fits next to the statuses every message carries (a MaxMsgSize below
      // any useful message): send it anyway rather than stall the session for ever.
      place(q, q.command);
      continue;
    }
    break;
  }

  const rest = [...waiting, ...queue.slice(i)];
  const pending: PendingCommand[] = rest.map((q, n) => {
    const key = `p${n + 1}`;
    if (q.tracked) {
      q.tracked.msgId = PENDING_MSG_ID;
      q.tracked.cmdId = key;
    }
    const entry: PendingCommand = { key, command: q.command };
    if (q.continued) entry.continued = true;
    return entry;
  });
  if (pending.length > 0) ses.pending = pending;
  else delete ses.pending;
  // This message's package goes on in the next one when something of it (this reply's commands or
  // the rest being sent now) did not fit.
  return { sent, packageContinues: queue.length > i };
}
