/**
 * Activities of the install workflow: the only I/O of an installation job.
 * Every one is idempotent — Temporal retries activities, and a retry must never write a second log
 * row, mint a second ticket or send a second message:
 * - `recordInstallTransition`: job row + log rows in one transaction, log rows keyed by the workflow's
 *   transition counter (`installation_log.entry_key` is unique per installation);
 * - `pushDownloadLink` / `dmInstall`: the ticket is keyed by (installation, attempt), the message by
 *   `<installationId>:push:<attempt>` (the PushChannel dedupes by idempotency key);
 * - `dmBootstrap`: the DmEngine dedupes by `<installationId>:bootstrap`.
 * Ticket links are secrets: they are built here and never returned into workflow history.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isPlatform, type Platform, type SoftwareFacts } from '../domain/install-options';
import { isNonRetryableChannelError, toActivityFailure } from '../infra/channels/errors';
import { createRecordingChannel } from '../infra/channels/recording';
import { ServiceError } from '../services/errors';
import { installationRow } from '../services/installations/jobs';
import { addLogEntry, recordTransition, type TransitionInput } from '../services/installations/log';
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

  /** The ticket of (installation, attempt): the existing one, or a new one valid for `lifetimeMs`. */
  async function ticketFor(installationId: string, attempt: number, fileId: string, lifetimeMs: number) {
    const existing = await db('push_tickets').where({ installation_id: installationId, attempt }).first();
    if (existing) return existing as { ticket: string; expires_at: Date };
    await db('push_tickets')
      .insert({
        ticket: newTicket(),
        installation_id: installationId,
        file_id: fileId,
        attempt,
        expires_at: db.raw(`now() + (? * interval '1 millisecond')`, [Math.round(lifetimeMs)]),
      })
      .onConflict(['installation_id', 'attempt'])
      .ignore();
    return (await db('push_tickets').where({ installation_id: installationId, attempt }).first()) as {
      ticket: string;
      expires_at: Date;
    };
  }

  return {
    /** The job's facts: device (platform, MSISDN, bootstrap, last inventory) and software (+ files). */
    async loadInstallContext(input: { installationId: string; deviceId: string; softwareId: string }): Promise<InstallContext> {
      const inst = await installationRow(db, input.installationId);
      if (!inst) throw nonRetryable(`installation ${input.installationId} does not exist`, 'InstallationNotFound');
      if (inst.device_id !== input.deviceId)
        throw nonRetryable(`installation ${input.installationId} is not for device ${input.deviceId}`, 'InstallationMismatch');
      const device = await db('devices').where({ id: input.deviceId }).first();
      if (!device) throw nonRetryable(`device ${input.deviceId} does not exist`, 'DeviceNotFound');
      const sw = await db('software').where({ id: input.softwareId }).first();
      if (!sw) throw nonRetryable(`software ${input.softwareId} does not exist`, 'SoftwareNotFound');
      const files = await db('software_files').where({ software_id: sw.id }).orderBy('created_at').select('id', 'format');
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
          files: files.map((f: { id: string; format: string }) => ({ id: f.id, format: String(f.format).toLowerCase() })),
        },
        dmConfigured: !!deps.dm,
      };
    },

    /** One transition of the job: log rows and job row in one transaction, written once (`recordTransition`). */
    async recordInstallTransition(input: TransitionInput): Promise<{ written: boolean }> {
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
      // The MSISDN at send time (PATCH /devices/:id may have changed it since the job began);
      // `input.to`, the workflow's snapshot, only when the job row is gone.
      const current = await db('installations as i')
        .join('devices as d', 'd.id', 'i.device_id')
        .where('i.id', input.installationId)
        .first('d.msisdn');
      const to: string | null | undefined = current ? current.msisdn : input.to;
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
