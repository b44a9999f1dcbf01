/**
 * Rollout notifications (SPEC P1, P3): the summary email when a rollout is over and the early alert
 * when its failures reach the threshold — built from Postgres (the source of truth) by the pure
 * report module and sent through the Mailer port (deps.mailer: nodemailer SMTP in production).
 *
 * Idempotent across retries and worker restarts: each mail has a fixed idempotency key
 * (`rollout/<id>/summary`, `rollout/<id>/failure-alert`); the configured mailer sends a key once (the
 * durable mailer of infra/channels/durable.ts records it in `messages`; the SMTP mailer derives the
 * Message-ID from it).
 * No mailer configured, or no notify addresses: nothing is sent, the result says why.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { type HaltFacts, renderHaltAlert } from '../domain/halt-alert';
import type { MailMessage } from '../domain/ports';
import { type RenderedMail, ReportBuilder, type RolloutReport, renderFailureAlert, renderSummary } from '../domain/report';
import { toActivityFailure } from '../infra/channels/errors';
import { reportJobsPage } from '../services/installations/views';
import type { ActivityDeps } from './deps';

export interface NotifyResult {
  sent: boolean;
  duplicate?: boolean;
  /** Why nothing was sent. */
  skipped?: 'no-recipients' | 'no-mailer';
  to?: string[];
  messageId?: string;
}

/** How many entries each list of the mail shows at most (the totals stay exact). */
const REPORT_LIST_LIMIT = 200;
const PAGE = 5000;

/** Builds the report of a rollout from Postgres, paging its jobs by seq. */
async function loadRolloutReport(
  db: ActivityDeps['db'],
  rolloutId: string,
  outcome: RolloutReport['outcome'],
  listLimit = REPORT_LIST_LIMIT,
): Promise<{ report: RolloutReport; notify: string[] }> {
  const rollout = await db('rollouts as r')
    .join('software as s', 's.id', 'r.software_id')
    .where('r.id', rolloutId)
    .first('r.notify', 's.name', 's.version');
  if (!rollout) throw ApplicationFailure.nonRetryable(`rollout ${rolloutId} not found`, 'NotFound');
  const builder = new ReportBuilder(listLimit);
  let after = -1;
  for (;;) {
    const rows = await reportJobsPage(db, rolloutId, after, PAGE);
    for (const r of rows) {
      builder.add({
        deviceId: r.device_id,
        externalId: r.external_id,
        platform: r.platform,
        status: r.status,
        final: r.final,
        detail: r.detail,
        lastMessage: r.last_message,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        lastContactAt: r.last_contact_at,
      });
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  return {
    report: builder.build({ rolloutId, software: { name: rollout.name, version: rollout.version }, outcome }),
    notify: rollout.notify ?? [],
  };
}

export function createNotifyActivities({ db, mailer, config }: Pick<ActivityDeps, 'db' | 'mailer' | 'config'>) {
  async function sendOnce(key: string, to: string[], mailContent: RenderedMail): Promise<NotifyResult> {
    if (to.length === 0) return { sent: false, skipped: 'no-recipients' };
    if (!mailer) {
      log.warn('no mailer configured: rollout mail not sent', { key, subject: mailContent.subject });
      return { sent: false, skipped: 'no-mailer', to };
    }
    const msg: MailMessage = {
      idempotencyKey: key,
      to,
      subject: mailContent.subject,
      text: mailContent.text,
      html: mailContent.html,
    };
    try {
      const r = await mailer.send(msg);
      return { sent: true, duplicate: r.duplicate, to, messageId: r.messageId };
    } catch (err) {
      // e.g. the SMTP server refused the recipients for good: retrying cannot help
      throw toActivityFailure(err);
    }
  }

  return {
    /** The summary email of a rollout that is over (P1 report, P3). */
    async sendRolloutSummary(input: { rolloutId: string; outcome: 'completed' | 'cancelled' }): Promise<NotifyResult> {
      const { report, notify } = await loadRolloutReport(db, input.rolloutId, input.outcome);
      // the summary links to the report an admin reads (GET /api/v1/rollouts/:id/report, issue 14)
      const reportUrl = `${config.publicUrl}/api/v1/rollouts/${input.rolloutId}/report`;
      return sendOnce(`rollout/${input.rolloutId}/summary`, notify, renderSummary({ ...report, reportUrl }));
    },

    /**
     * The early alert (once per rollout): failures reached the threshold. With `halt` (issue 14): the
     * alert of an automatic halt (a group's failures reached the error threshold), once per halt.
     */
    async sendFailureAlert(input: {
      rolloutId: string;
      failures: number;
      threshold: number;
      total: number;
      halt?: HaltFacts & { halt: number };
    }): Promise<NotifyResult> {
      const { report, notify } = await loadRolloutReport(db, input.rolloutId, 'running');
      if (input.halt) {
        return sendOnce(`rollout/${input.rolloutId}/halt/${input.halt.halt}`, notify, renderHaltAlert(report, input.halt));
      }
      return sendOnce(`rollout/${input.rolloutId}/failure-alert`, notify, renderFailureAlert(report, input.threshold));
    },
  };
}
