/**
 * OMA DM Package #0, the trigger that makes a device open a DM session (M1; OMA-TS-DM_Notification
 * 1.2): package0 = digest(128 bits) trigger. Sent by WAP push as application/vnd.syncml.notification
 * to x-wap-application:syncml.dm.
 */
import { b64, md5 } from './dm-auth';

export const NOTIFICATION_CONTENT_TYPE = 'application/vnd.syncml.notification';
export const NOTIFICATION_APPLICATION_ID = 'x-wap-application:syncml.dm';

const UI_MODES = ['not-specified', 'background', 'informative', 'user-interaction'] as const;
type UiMode = (typeof UI_MODES)[number];
type Initiator = 'user' | 'server';

export interface NotificationTrigger {
  /** DM protocol version × 10 (1.2 → 12); 10 bits. Default 12. */
  version?: number;
  uiMode: UiMode;
  initiator: Initiator;
  /** 27 reserved bits, must be 0 when sending; kept for round trips. */
  futureUse?: number;
  /** 16 bits; the device reuses it as the SessionID of the session it opens (as decimal or hex text). */
  sessionId: number;
  /** Server identifier (DM account ServerID), ≤ 255 bytes UTF-8. */
  serverId: string;
  /** trigger-body: vendor-specific bytes. */
  vendorSpecific?: Uint8Array;
}

export class NotificationError extends Error {
  override readonly name = 'NotificationError';
}

const HEADER_FIXED_LEN = 8;
const DIGEST_LEN = 16;

/**
 * trigger = trigger-hdr trigger-body, big-endian bits:
 *   trigger-hdr  = version(10) ui-mode(2) initiator(1) future-use(27) sessionid(16)
 *                  length-identifier(8) server-identifier(length-identifier octets)
 *   trigger-body = vendor specific (may be empty)
 */
export function encodeTrigger(t: NotificationTrigger): Buffer {
  const version = t.version ?? 12;
  const uiMode = UI_MODES.indexOf(t.uiMode);
  const initiator = t.initiator === 'server' ? 1 : 0;
  const future = t.futureUse ?? 0;
  const id = Buffer.from(t.serverId, 'utf8');
  if (!Number.isInteger(version) || version < 0 || version > 0x3ff) throw new NotificationError('version must fit 10 bits');
  if (uiMode < 0) throw new NotificationError(`bad ui-mode ${t.uiMode}`);
  if (!Number.isInteger(future) || future < 0 || future > 0x7ffffff) throw new NotificationError('future-use must fit 27 bits');
  if (!Number.isInteger(t.sessionId) || t.sessionId < 0 || t.sessionId > 0xffff)
    throw new NotificationError('sessionid must fit 16 bits');
  if (id.length === 0 || id.length > 255) throw new NotificationError('server identifier must be 1..255 bytes');

  const hdr = Buffer.alloc(HEADER_FIXED_LEN);
  // First 40 bits: version(10) ui-mode(2) initiator(1) future-use(27). Built as a 40-bit integer.
  const high = version * 2 ** 30 + uiMode * 2 ** 28 + initiator * 2 ** 27 + future;
  hdr.writeUIntBE(high, 0, 5);
  hdr.writeUInt16BE(t.sessionId, 5);
  hdr.writeUInt8(id.length, 7);
  return Buffer.concat([hdr, id, Buffer.from(t.vendorSpecific ?? [])]);
}

/** Inverse of encodeTrigger. */
export function decodeTrigger(
  trigger: Uint8Array,
): Required<Omit<NotificationTrigger, 'vendorSpecific'>> & { vendorSpecific: Buffer } {
  const buf = Buffer.from(trigger);
  if (buf.length < HEADER_FIXED_LEN) throw new NotificationError('trigger too short');
  const high = buf.readUIntBE(0, 5);
  const version = Math.floor(high / 2 ** 30);
  const uiMode = Math.floor(high / 2 ** 28) & 0x3;
  const initiator = Math.floor(high / 2 ** 27) & 0x1;
  const futureUse = high % 2 ** 27;
  const sessionId = buf.readUInt16BE(5);
  const idLen = buf.readUInt8(7);
  if (buf.length < HEADER_FIXED_LEN + idLen) throw new NotificationError('server identifier truncated');
  const serverId = buf.subarray(HEADER_FIXED_LEN, HEADER_FIXED_LEN + idLen).toString('utf8');
  return {
    version,
    uiMode: UI_MODES[uiMode] as UiMode,
    initiator: initiator === 1 ? 'server' : 'user',
    futureUse,
    sessionId,
    serverId,
    vendorSpecific: Buffer.from(buf.subarray(HEADER_FIXED_LEN + idLen)),
  };
}

/**
 * digest = MD5(B64(MD5(serverId:password)) ":" nonce ":" B64(MD5(trigger))), 16 raw bytes. `password`
 * and `nonce` (raw bytes) are the server credentials the device holds: APPSRV AAUTHSECRET / AAUTHDATA.
 */
export function computeNotificationDigest(params: {
  serverId: string;
  password: string;
  nonce: Uint8Array | string;
  trigger: Uint8Array;
}): Buffer {
  const inner = b64(md5(`${params.serverId}:${params.password}`));
  return md5(inner, ':', params.nonce, ':', b64(md5(params.trigger)));
}

/** The complete Package #0 (digest + trigger): the body of the WAP push. */
export function buildNotification(t: NotificationTrigger, creds: { password: string; nonce: Uint8Array | string }): Buffer {
  const trigger = encodeTrigger(t);
  const digest = computeNotificationDigest({ serverId: t.serverId, password: creds.password, nonce: creds.nonce, trigger });
  return Buffer.concat([digest, trigger]);
}

export interface ParsedNotification {
  digest: Buffer;
  trigger: ReturnType<typeof decodeTrigger>;
  triggerBytes: Buffer;
}

export function parseNotification(pkg0: Uint8Array): ParsedNotification {
  const buf = Buffer.from(pkg0);
  if (buf.length < DIGEST_LEN + HEADER_FIXED_LEN) throw new NotificationError('package #0 too short');
  const triggerBytes = Buffer.from(buf.subarray(DIGEST_LEN));
  return { digest: Buffer.from(buf.subarray(0, DIGEST_LEN)), trigger: decodeTrigger(triggerBytes), triggerBytes };
}

/** What a device does on receipt: recompute the digest with its stored server password/nonce. */
export function verifyNotification(pkg0: Uint8Array, creds: { password: string; nonce: Uint8Array | string }): boolean {
  const p = parseNotification(pkg0);
  const expected = computeNotificationDigest({
    serverId: p.trigger.serverId,
    password: creds.password,
    nonce: creds.nonce,
    trigger: p.triggerBytes,
  });
  return expected.equals(p.digest);
}
