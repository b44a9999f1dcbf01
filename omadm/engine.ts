/**
 * The DmEngine port (domain/ports.ts) served by our own OMA DM server (M1, M2, R2; docs/dm.md):
 * `bootstrap` creates the device's DM account and pushes it, `install` queues the SCOMO job and pushes
 * the Package #0 trigger. The sessions themselves run in services/dm-sessions.ts (`POST /dm`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { BinaryPushMessage, DmEngine, PushChannel } from '../domain/ports';
import { toActivityFailure } from '../infra/channels/errors';
import type { Config } from '../infra/config';
import type { Db } from '../infra/db';
import { buildDmBootstrapDocument } from './cp-document';
import { buildBootstrapPush } from './cp-push';
import { generateNonce } from './dm-auth';
import { buildNotification, NOTIFICATION_APPLICATION_ID, NOTIFICATION_CONTENT_TYPE } from './notification';
import { withInstallJob } from './scomo';
import { createDeviceState } from './session-model';
import { type DmDeviceRecord, dmSecretBox, lockDmDevice, saveDmDevice } from './store';

export interface DmEngineOptions {
  db: Db;
  push: PushChannel;
  config: Pick<Config, 'publicUrl' | 'dataDir' | 'dm'>;
}

/** The DM server address put into bootstrap documents. */
const dmServerAddress = (publicUrl: string) => `${publicUrl.replace(/\/+$/, '')}/dm`;

/** The account's client username (AAUTHNAME): derived from the device id, unique, not secret. */
const dmClientUsername = (deviceId: string) => `dr-${deviceId.replace(/-/g, '').toLowerCase()}`;

/** 16-bit notification session id, stable for one request key (a retried trigger carries the same). */
function notificationSessionId(idempotencyKey: string): number {
  return createHash('sha256').update(idempotencyKey).digest().readUInt16BE(0);
}

/** SCOMO node name of an install job (./SCOMO/Download/<pkgId>): the installation id. */
const dmPackageId = (installationId: string) => installationId.toLowerCase();

const newPassword = () => randomBytes(18).toString('base64url');

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/**
 * Idempotent per request key (activities are retried): a retried bootstrap re-sends the account it
 * created, a retried install keeps the job's progress, and the push channel dedupes by the same key.
 * Credentials are committed before the push is sent, so the device gets what the server holds.
 */
export function createDmEngine(opts: DmEngineOptions): DmEngine {
  const { db, push, config } = opts;
  const box = () => dmSecretBox({ secretKey: config.dm.secretKey, dataDir: config.dataDir });

  async function deviceFor(deviceId: string): Promise<{ id: string; msisdn: string }> {
    const device = await db('devices').where({ id: deviceId }).first('id', 'msisdn');
    if (!device) throw nonRetryable(`device ${deviceId} does not exist`, 'DeviceNotFound');
    if (!device.msisdn) throw nonRetryable('the device has no MSISDN: OMA DM pushes go by SMS', 'NoMsisdn');
    return device;
  }

  async function send(msg: BinaryPushMessage): Promise<void> {
    try {
      await push.sendBinaryPush(msg);
    } catch (err) {
      throw toActivityFailure(err);
    }
  }

  return {
    /** New random credentials, the w7 CP document by WAP push; the first authenticated session confirms it. */
    async bootstrap(req) {
      const device = await deviceFor(req.deviceId);
      const secrets = await box();
      const rec = await db.transaction(async (trx) => {
        const existing = await lockDmDevice(trx, device.id, secrets);
        if (existing && existing.bootstrapKey === req.idempotencyKey) return existing; // a retry: same account
        const state = createDeviceState({
          bootstrapped: false,
          account: {
            clientUsername: existing?.clientUsername ?? dmClientUsername(device.id),
            clientPassword: newPassword(),
            clientNonce: generateNonce(),
            serverId: config.dm.serverId,
            serverPassword: newPassword(),
            serverNonce: generateNonce(),
          },
        });
        // A pending install job survives a re-bootstrap: the next session resumes it.
        if (existing?.state.install) state.install = existing.state.install;
        const next: DmDeviceRecord = {
          deviceId: device.id,
          clientUsername: state.account.clientUsername,
          deviceUri: existing?.deviceUri ?? null,
          state,
          bootstrapKey: req.idempotencyKey,
          bootstrapSentAt: null,
          bootstrappedAt: null,
        };
        await saveDmDevice(trx, next, secrets);
        // New credentials: the device is bootstrapped again only once it uses them.
        await trx('devices').where({ id: device.id }).update({ bootstrapped: false });
        return next;
      });
      const acc = rec.state.account;
      const doc = buildDmBootstrapDocument({
        serverId: acc.serverId,
        name: 'DeviceRollout',
        address: dmServerAddress(config.publicUrl),
        client: { username: acc.clientUsername, password: acc.clientPassword, nonce: acc.clientNonce },
        server: { password: acc.serverPassword as string, nonce: acc.serverNonce as string },
      });
      const pushed = buildBootstrapPush(doc);
      await send({
        idempotencyKey: req.idempotencyKey,
        to: device.msisdn,
        contentType: pushed.contentTypeHeader,
        body: pushed.body,
      });
      await db('dm_devices')
        .where({ device_id: device.id, bootstrap_key: req.idempotencyKey })
        .update({ bootstrap_sent_at: db.raw('coalesce(bootstrap_sent_at, now())') });
    },

    /** The job into the device's DM state, then Package #0; the result comes as the dmInstallResult signal. */
    async install(req) {
      const device = await deviceFor(req.deviceId);
      const secrets = await box();
      const rec = await db.transaction(async (trx) => {
        const r = await lockDmDevice(trx, device.id, secrets);
        if (!r) {
          throw nonRetryable('the device has no OMA DM account on this server (it was not bootstrapped by it)', 'NoDmAccount');
        }
        if (r.state.install?.jobId !== req.installationId) {
          r.state = withInstallJob(r.state, {
            jobId: req.installationId,
            pkgId: dmPackageId(req.installationId),
            packageUrl: req.packageUrl,
            name: req.softwareName,
            description: `${req.softwareName} ${req.version}`,
          });
          await saveDmDevice(trx, r, secrets);
        }
        // else: a retry of the same job keeps its progress — never a second install.
        return r;
      });
      const acc = rec.state.account;
      if (!acc.serverPassword || acc.serverNonce === undefined) {
        throw nonRetryable('the device DM account has no server credentials for the trigger', 'NoDmAccount');
      }
      const body = buildNotification(
        {
          uiMode: 'background',
          initiator: 'server',
          sessionId: notificationSessionId(req.idempotencyKey),
          serverId: acc.serverId,
        },
        { password: acc.serverPassword, nonce: Buffer.from(acc.serverNonce, 'base64') },
      );
      await send({
        idempotencyKey: req.idempotencyKey,
        to: device.msisdn,
        contentType: NOTIFICATION_CONTENT_TYPE,
        applicationId: NOTIFICATION_APPLICATION_ID,
        body,
      });
    },
  };
}
