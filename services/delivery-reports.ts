/**
 * Kannel's delivery reports (the `dlr-url` of every message the Kannel channel sends): the state is
 * recorded on the message — only ever forward (pending → unconfirmed → failed → sent → delivered) —
 * and an entry in the job's log, once per message and report type. A report that the SMSC accepted or
 * buffered the message makes it `sent`: that is how an `unconfirmed` send (its answer was lost,
 * infra/channels/durable.ts) is known to have gone out, and its retry sends nothing.
 */

import type { KannelDeliveryReport } from '../infra/channels/kannel';
import type { Db } from '../infra/db';
import { ServiceError } from './errors';
import { addLogEntry } from './installations/log';

const ORDER: Record<string, number> = { pending: 0, unconfirmed: 1, failed: 2, sent: 3, delivered: 4 };

const STATE_OF_REPORT: Partial<Record<KannelDeliveryReport['state'], string>> = {
  delivered: 'delivered',
  'smsc-accepted': 'sent',
  buffered: 'sent',
  failed: 'failed',
  'smsc-rejected': 'failed',
};

/** Records one delivery report; `not-found` for a message this server did not send. */
export async function recordDeliveryReport(db: Db, dlr: KannelDeliveryReport): Promise<void> {
  const msg = await db('messages')
    .where({ idempotency_key: dlr.idempotencyKey })
    .first('id', 'state', 'installation_id', 'channel');
  if (!msg) throw new ServiceError('not-found', 'unknown message');
  const next = STATE_OF_REPORT[dlr.state];
  if (next && (ORDER[next] ?? 0) > (ORDER[msg.state] ?? 0))
    // only forward, also against a send's own update in between
    await db('messages')
      .where({ id: msg.id })
      .whereIn(
        'state',
        Object.keys(ORDER).filter((s) => (ORDER[s] ?? 0) < (ORDER[next] ?? 0)),
      )
      .update({ state: next, ...(next === 'failed' ? {} : { sent_at: db.raw('coalesce(sent_at, now())') }) });
  if (msg.installation_id) {
    await addLogEntry(db, {
      installationId: msg.installation_id,
      event: 'push',
      message: `delivery report (${msg.channel}): ${dlr.state}${dlr.reply ? ` — ${dlr.reply}` : ''}`,
      entryKey: `dlr:${dlr.idempotencyKey}:${dlr.type}`,
      ...(dlr.at ? { at: dlr.at } : {}),
    });
  }
}
