/**
 * Kannel's delivery reports (the `dlr-url` of every message the Kannel channel sends): the state is
 * recorded on the message — only ever forward (pending → failed → sent → delivered) — and an entry
 * in the job's log, once per message and report type.
 */

import type { KannelDeliveryReport } from '../infra/channels/kannel';
import type { Db } from '../infra/db';
import { ServiceError } from './errors';
import { addLogEntry } from './installations/log';

const ORDER: Record<string, number> = { pending: 0, failed: 1, sent: 2, delivered: 3 };

/** Records one delivery report; `not-found` for a message this server did not send. */
export async function recordDeliveryReport(db: Db, dlr: KannelDeliveryReport): Promise<void> {
  const msg = await db('messages')
    .where({ idempotency_key: dlr.idempotencyKey })
    .first('id', 'state', 'installation_id', 'channel');
  if (!msg) throw new ServiceError('not-found', 'unknown message');
  const next =
    dlr.state === 'delivered' ? 'delivered' : dlr.state === 'failed' || dlr.state === 'smsc-rejected' ? 'failed' : undefined;
  if (next && (ORDER[next] ?? 0) > (ORDER[msg.state] ?? 0)) await db('messages').where({ id: msg.id }).update({ state: next });
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
