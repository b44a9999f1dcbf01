/**
 * Activities of the install workflow: the only I/O of an installation job.
 * Every one is idempotent — Temporal retries activities, and a retry must never write a second log
 * row, mint a second ticket or send a second message:
 * - `recordInstallTransition`: job row + log rows (a final one: its links revoked too) in one SQL
 *   statement, log rows keyed by the workflow's transition counter (`installation_log.entry_key` is
 *   unique per installation);
 * - `pushDownloadLink` / `dmInstall`: the ticket is keyed by (installation, attempt), the message by
 *   `<installationId>:push:<attempt>` (the PushChannel dedupes by idempotency key);
 * - `dmBootstrap`: the DmEngine dedupes by `<installationId>:bootstrap`.
 * Ticket links are secrets: they are built here and never returned into workflow history.
 * The database work is one round trip per activity where it can be (issue 17): the job's facts, a
 * transition, a ticket with the MSISDN to send it to — each one statement.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isPlatform, type Platform, type SoftwareFacts } from '../domain/install-options';
import { isNonRetryableChannelError, toActivityFailure } from '../infra/channels/errors';
import { createRecordingChannel } from '../infra/channels/recording';
import { PreparedStatement } from '../infra/db';
import { ServiceError } from '../services/errors';
import { addLogEntry, recordTransition, type TransitionInput, type TransitionResult } from '../services/installations/log';
import type { ActivityDeps } from './deps';

export type { DeliveryMethod, LogEvent, TransitionInput } from '../services/installations/log';

export interface InstallContext {
  installation: { id: string; rolloutId: string; deviceId: string; status: string | null; final: boolean };
  device: {
    id: string;
    externalId: string;
    platform: Platform;
    msisdn: string | null;
    bootstrapped: boolean;
    /** Last reported inventory: software name → version. */
    installed: Record<string, string>;
  };
  software: SoftwareFacts & { id: string; name: string; version: string; bundleId: string | null };
  /** A DmEngine is configured on this worker. */
  dmConfigured: boolean;
}

export interface PushLinkInput {
  installationId: string;
  /** 1-based push attempt; a new ticket per attempt. */
  attempt: number;
  method: 'sms' | 'wap' | 'mark';
  fileId: string;
  ticketLifetimeMs: number;
  softwareName: string;
  softwareVersion: string;
  /** R6: the SMS carries the itms-services manifest link instead of the file link. */
  inHouseIos: boolean;
  /** MSISDN (sms, wap). */
  to?: string | null;
  /** The workflow's send attempt of this push (since it retries sends itself); absent: the activity's attempt. */
  sendAttempt?: number;
}

export interface PushLinkResult {
  attempt: number;
  expiresAt: string;
  sent: boolean;
  channel: 'sms' | 'wap' | 'mark';
  transport?: string;
  providerId?: string;
  duplicate?: boolean;
  /** What kind of link was sent: the file link or the iOS manifest link. */
  link: 'file' | 'manifest' | 'none';
}

/** The download link of a ticket (R5). */
const ticketUrl = (publicUrl: string, ticket: string) => `${publicUrl}/d/${ticket}`;

/** R6: the iOS over-the-air install link naming the ticket's manifest. */
const manifestLink = (publicUrl: string, ticket: string) =>
  `itms-services://?action=download-manifest&url=${encodeURIComponent(`${ticketUrl(publicUrl, ticket)}/manifest.plist`)}`;

/** 32 random bytes, base64url (43 characters). */
const newTicket = () => randomBytes(32).toString('base64url');

const pushIdempotencyKey = (installationId: string, attempt: number) => `${installationId}:push:${attempt}`;

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** The job's row, its device, its software and the software's files (oldest first), in one statement. */
const CONTEXT = new PreparedStatement<ContextRow>(
  'install.context',
  `
SELECT
  (SELECT json_build_object('id', i.id, 'rollout_id', i.rollout_id, 'device_id', i.device_id,
                            'status', i.status, 'final', i.final)
     FROM installations i WHERE i.id = :installationId::uuid) AS installation,
  (SELECT json_build_object('id', d.id, 'external_id', d.external_id, 'platform', d.platform, 'msisdn', d.msisdn,
                            'bootstrapped', d.bootstrapped, 'installed', d.installed)
     FROM devices d WHERE d.id = :deviceId::uuid) AS device,
  (SELECT json_build_object('id', s.id, 'name', s.name, 'version', s.version, 'kind', s.kind,
                            'platforms', s.platforms, 'in_house_ios', s.in_house_ios, 'bundle_id', s.bundle_id)
     FROM software s WHERE s.id = :softwareId::uuid) AS software,
  (SELECT coalesce(json_agg(json_build_object('id', f.id, 'format', f.format) ORDER BY f.created_at), '[]'::json)
     FROM software_files f WHERE f.software_id = :softwareId::uuid) AS files`,
);

interface ContextRow {
  installation: { id: string; rollout_id: string; device_id: string; status: string | null; final: boolean } | null;
  device: {
    id: string;
    external_id: string;
    platform: string;
    msisdn: string | null;
    bootstrapped: boolean;
    installed: Record<string, unknown> | null;
  } | null;
  software: {
    id: string;
    name: string;
    version: string;
    kind: string;
    platforms: string[] | null;
    in_house_ios: boolean;
    bundle_id: string | null;
  } | null;
  files: { id: string; format: string }[];
}

/**
 * The ticket of (installation, attempt): inserted unless it exists (ON CONFLICT: a concurrent attempt
 * may have written it meanwhile), returned either way, with the job's device MSISDN of this moment.
 */
const TICKET = new PreparedStatement<TicketRow>(
  'install.ticket',
  `
WITH existing AS (
  SELECT ticket, expires_at FROM push_tickets WHERE installation_id = :installationId::uuid AND attempt = :attempt::int
), created AS (
  INSERT INTO push_tickets (ticket, installation_id, file_id, attempt, expires_at)
  SELECT :ticket::text, :installationId::uuid, :fileId::uuid, :attempt::int,
         now() + (:lifetimeMs::double precision * interval '1 millisecond')
   WHERE NOT EXISTS (SELECT 1 FROM existing)
  ON CONFLICT (installation_id, attempt) DO NOTHING
  RETURNING ticket, expires_at
), job AS (
  SELECT d.msisdn FROM installations i JOIN devices d ON d.id = i.device_id WHERE i.id = :installationId::uuid
)
SELECT t.ticket, t.expires_at, EXISTS (SELECT 1 FROM job) AS job_found, (SELECT msisdn FROM job) AS msisdn
  FROM (SELECT 1) one
  LEFT JOIN (SELECT ticket, expires_at FROM created UNION ALL SELECT ticket, expires_at FROM existing) t ON true`,
);

interface TicketRow {
  ticket: string | null;
  expires_at: Date | null;
  job_found: boolean;
  msisdn: string | null;
}

export function createInstallActivities(deps: ActivityDeps) {
  /**
   * The job log shows every failed gateway attempt (gateway down, 5xx …), one entry per activity
   * attempt, while Temporal retries the activity with backoff. Best effort: the database may be the
   * thing that is down.
   */
  async function logFailedPushAttempt(input: PushLinkInput, err: unknown): Promise<void> {
    let activityAttempt = input.sendAttempt ?? 1;
    if (input.sendAttempt === undefined) {
      try {
        activityAttempt = Context.current().info.attempt;
      } catch {
        // called outside an activity (tests)
      }
    }
    const retrying = !isNonRetryableChannelError(err);
    await addLogEntry(deps.db, {
      installationId: input.installationId,
      event: 'error',
      message: `${input.method.toUpperCase()} push ${input.attempt}, gateway attempt ${activityAttempt} failed: ${(err as Error).message}${retrying ? ' — retrying with backoff' : ''}`,
      entryKey: `push:${input.attempt}:gateway-attempt:${activityAttempt}`,
    }).catch(() => undefined);
  }

  const { db, config } = deps;
  // Without a configured channel, messages are only recorded (npm start without an SMS gateway).
  const channel = deps.push ?? createRecordingChannel(db);
  const push = () => channel;

  /**
   * The ticket of (installation, attempt) — the existing one, or a new one valid for `lifetimeMs` —
   * and the job's device MSISDN as it is now (`job` undefined: the job row is gone), in one statement.
   * Only when a concurrent attempt inserted the ticket after this statement's snapshot is it read again.
   */
  async function ticketFor(installationId: string, attempt: number, fileId: string, lifetimeMs: number) {
    const rows = await TICKET.rows(db, {
      installationId,
      attempt,
      fileId,
      ticket: newTicket(),
      lifetimeMs: Math.round(lifetimeMs),
    });
    const row = rows[0];
    if (!row) throw new Error(`ticket query of installation ${installationId} returned no row`);
    const job = row.job_found ? { msisdn: row.msisdn as string | null } : undefined;
    if (row.ticket && row.expires_at) return { ticket: row.ticket, expires_at: row.expires_at, job };
    const t = await db('push_tickets').where({ installation_id: installationId, attempt }).first('ticket', 'expires_at');
    if (!t) throw new Error(`the ticket of installation ${installationId}, attempt ${attempt} was not written`);
    return { ticket: t.ticket as string, expires_at: t.expires_at as Date, job };
  }

  return {
    /** The job's facts: device (platform, MSISDN, bootstrap, last inventory) and software (+ files). */
    async loadInstallContext(input: { installationId: string; deviceId: string; softwareId: string }): Promise<InstallContext> {
      const rows = await CONTEXT.rows(db, input);
      const row = rows[0];
      const inst = row?.installation;
      if (!inst) throw nonRetryable(`installation ${input.installationId} does not exist`, 'InstallationNotFound');
      if (inst.device_id !== input.deviceId)
        throw nonRetryable(`installation ${input.installationId} is not for device ${input.deviceId}`, 'InstallationMismatch');
      const device = row.device;
      if (!device) throw nonRetryable(`device ${input.deviceId} does not exist`, 'DeviceNotFound');
      const sw = row.software;
      if (!sw) throw nonRetryable(`software ${input.softwareId} does not exist`, 'SoftwareNotFound');
      const files = row.files;
      const installed: Record<string, string> = {};
      for (const [k, v] of Object.entries((device.installed ?? {}) as Record<string, unknown>)) {
        if (v !== null && v !== undefined) installed[k] = String(v);
      }
      return {
        installation: {
          id: inst.id,
          rolloutId: inst.rollout_id,
          deviceId: inst.device_id,
          status: inst.status ?? null,
          final: !!inst.final,
        },
        device: {
          id: device.id,
          externalId: device.external_id,
          platform: isPlatform(device.platform) ? device.platform : 'other',
          msisdn: device.msisdn || null,
          bootstrapped: !!device.bootstrapped,
          installed,
        },
        software: {
          id: sw.id,
          name: sw.name,
          version: sw.version,
          kind: sw.kind === 'dme-client' ? 'dme-client' : 'other',
          platforms: ((sw.platforms ?? []) as string[]).filter(isPlatform),
          inHouseIos: !!sw.in_house_ios,
          bundleId: sw.bundle_id ?? null,
          files: files.map((f) => ({ id: f.id, format: String(f.format).toLowerCase() })),
        },
        dmConfigured: !!deps.dm,
      };
    },

    /**
     * One transition of the job: log rows and job row in one statement, written once
     * (`recordTransition`); with `revokeTickets` (a final transition) the job's links revoked too.
     */
    async recordInstallTransition(input: TransitionInput): Promise<TransitionResult> {
      try {
        return await recordTransition(db, input);
      } catch (err) {
        if (err instanceof ServiceError && err.kind === 'not-found') {
          throw nonRetryable(`installation ${input.installationId} does not exist`, 'InstallationNotFound');
        }
        throw err;
      }
    },

    /**
     * Push attempt `attempt` (R4–R6): the ticket (created once per attempt) and, for SMS / WAP push,
     * the message with its link (sent once per attempt). Mark for installation sends nothing: the
     * device gets the link at its next sync.
     */
    async pushDownloadLink(input: PushLinkInput): Promise<PushLinkResult> {
      const t = await ticketFor(input.installationId, input.attempt, input.fileId, input.ticketLifetimeMs);
      const expiresAt = new Date(t.expires_at).toISOString();
      if (input.method === 'mark') return { attempt: input.attempt, expiresAt, sent: false, channel: 'mark', link: 'none' };
      // The MSISDN at send time (PATCH /devices/:id may have changed it since the job began), read
      // with the ticket; `input.to`, the workflow's snapshot, only when the job row is gone.
      const to: string | null | undefined = t.job ? t.job.msisdn : input.to;
      if (!to) throw nonRetryable('the device has no MSISDN to push to', 'NoMsisdn');
      const url = ticketUrl(config.publicUrl, t.ticket);
      const key = pushIdempotencyKey(input.installationId, input.attempt);
      const what = `${input.softwareName} ${input.softwareVersion}`;
      try {
        if (input.method === 'sms') {
          const link = input.inHouseIos ? manifestLink(config.publicUrl, t.ticket) : url;
          const r = await push().sendSms({ idempotencyKey: key, to, text: `Install ${what}: ${link}` });
          return {
            attempt: input.attempt,
            expiresAt,
            sent: true,
            channel: 'sms',
            transport: r.transport,
            providerId: r.providerId,
            duplicate: !!r.duplicate,
            link: input.inHouseIos ? 'manifest' : 'file',
          };
        }
        const r = await push().sendWapPush({
          idempotencyKey: key,
          to,
          href: url,
          text: `Install ${what}`,
          expires: new Date(t.expires_at),
        });
        return {
          attempt: input.attempt,
          expiresAt,
          sent: true,
          channel: 'wap',
          transport: r.transport,
          providerId: r.providerId,
          duplicate: !!r.duplicate,
          link: 'file',
        };
      } catch (err) {
        await logFailedPushAttempt(input, err);
        throw toActivityFailure(err);
      }
    },

    /** R2/M2: send the OMA DM bootstrap to the device (the DmEngine dedupes by key). */
    async dmBootstrap(input: { installationId: string; deviceId: string }): Promise<void> {
      if (!deps.dm) throw nonRetryable('no DM engine is configured', 'NoDmEngine');
      await deps.dm.bootstrap({
        idempotencyKey: `${input.installationId}:bootstrap`,
        installationId: input.installationId,
        deviceId: input.deviceId,
      });
    },

    /** DM install: the package URL is a ticket link (attempt 0), valid one ticket lifetime. */
    async dmInstall(input: {
      installationId: string;
      deviceId: string;
      fileId: string;
      softwareName: string;
      softwareVersion: string;
      ticketLifetimeMs: number;
    }): Promise<{ expiresAt: string }> {
      if (!deps.dm) throw nonRetryable('no DM engine is configured', 'NoDmEngine');
      const t = await ticketFor(input.installationId, 0, input.fileId, input.ticketLifetimeMs);
      await deps.dm.install({
        idempotencyKey: `${input.installationId}:dm-install`,
        installationId: input.installationId,
        deviceId: input.deviceId,
        packageUrl: ticketUrl(config.publicUrl, t.ticket),
        softwareName: input.softwareName,
        version: input.softwareVersion,
      });
      return { expiresAt: new Date(t.expires_at).toISOString() };
    },

    /** Revokes every live ticket of the job (cancellation): its links answer 410 from now on. */
    async revokePushTickets(input: { installationId: string }): Promise<{ revoked: number }> {
      const revoked = await db('push_tickets')
        .where({ installation_id: input.installationId })
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() });
      return { revoked };
    },
  };
}

export type InstallActivities = ReturnType<typeof createInstallActivities>;
