import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeUintvar, uintvar as encodeUintvar, encodeWspPush } from '../../infra/channels/wsp';
import {
  buildNotification,
  computeNotificationDigest,
  decodeTrigger,
  encodeTrigger,
  NOTIFICATION_APPLICATION_ID,
  NOTIFICATION_CONTENT_TYPE,
  NotificationError,
  parseNotification,
  verifyNotification,
} from '../../omadm/notification';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest();

describe('trigger-hdr bit layout', () => {
  it('encodes version 1.2, informative, server-initiated, session 0x1234, id "com.example"', () => {
    const bytes = encodeTrigger({
      version: 12,
      uiMode: 'informative',
      initiator: 'server',
      sessionId: 0x1234,
      serverId: 'com.example',
    });
    // Hand computed:
    //   version 12   = 00 0000 1100  (10 bits)
    //   ui-mode 2    = 10
    //   initiator 1  = 1
    //   future-use   = 27 × 0
    //   → 0000 0011 | 0010 1000 | 0000 0000 | 0000 0000 | 0000 0000  = 03 28 00 00 00
    //   sessionid    = 12 34, length-identifier = 0B, then "com.example"
    const expected = Buffer.concat([
      Buffer.from([0x03, 0x28, 0x00, 0x00, 0x00, 0x12, 0x34, 0x0b]),
      Buffer.from('com.example', 'ascii'),
    ]);
    expect(bytes.toString('hex')).toBe(expected.toString('hex'));
  });

  it('places every field in its bits', () => {
    // user-interaction (3), user-initiated (0), session 0xFFFF, id "s"
    expect(
      encodeTrigger({ uiMode: 'user-interaction', initiator: 'user', sessionId: 0xffff, serverId: 's' }).toString('hex'),
    ).toBe('0330000000ffff0173');
    // future-use 0x5A5A5A5: its top 3 bits (101) end byte 1, the other 24 fill bytes 2..4
    expect(
      encodeTrigger({ uiMode: 'not-specified', initiator: 'user', futureUse: 0x5a5a5a5, sessionId: 1, serverId: 'x' }).toString(
        'hex',
      ),
    ).toBe('0305a5a5a500010178');
    // version 1023 (all ones), background (01), server (1)
    expect(
      encodeTrigger({ version: 1023, uiMode: 'background', initiator: 'server', sessionId: 0, serverId: 'x' }).toString('hex'),
    ).toBe('ffd800000000000178');
  });

  it('round-trips the header and a vendor-specific body', () => {
    const t = {
      version: 12,
      uiMode: 'background' as const,
      initiator: 'server' as const,
      futureUse: 0,
      sessionId: 4711,
      serverId: 'DeviceRollout',
      vendorSpecific: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    };
    expect(decodeTrigger(encodeTrigger(t))).toEqual(t);
  });

  it('validates field ranges', () => {
    const base = { uiMode: 'background' as const, initiator: 'server' as const, sessionId: 1, serverId: 'x' };
    expect(() => encodeTrigger({ ...base, sessionId: 0x10000 })).toThrow(NotificationError);
    expect(() => encodeTrigger({ ...base, version: 1024 })).toThrow(NotificationError);
    expect(() => encodeTrigger({ ...base, futureUse: 2 ** 27 })).toThrow(NotificationError);
    expect(() => encodeTrigger({ ...base, serverId: '' })).toThrow(NotificationError);
    expect(() => encodeTrigger({ ...base, serverId: 'x'.repeat(256) })).toThrow(NotificationError);
    expect(() => decodeTrigger(Buffer.from([0x03, 0x28, 0, 0, 0, 0, 1, 5, 0x61]))).toThrow(/truncated/);
  });
});

describe('Package #0 digest', () => {
  const creds = { password: 'srv-secret', nonce: Buffer.from([0x10, 0x20, 0x30, 0x40]) };

  it('computes H(B64(H(server-identifier:password)):nonce:B64(H(trigger))) step by step', () => {
    const trigger = encodeTrigger({ uiMode: 'background', initiator: 'server', sessionId: 0x0102, serverId: 'com.example' });
    const a = md5('com.example:srv-secret').toString('base64');
    const b = md5(trigger).toString('base64');
    const expected = md5(Buffer.concat([Buffer.from(`${a}:`), creds.nonce, Buffer.from(`:${b}`)]));
    expect(computeNotificationDigest({ serverId: 'com.example', password: 'srv-secret', nonce: creds.nonce, trigger })).toEqual(
      expected,
    );
    const pkg0 = buildNotification(
      { uiMode: 'background', initiator: 'server', sessionId: 0x0102, serverId: 'com.example' },
      creds,
    );
    expect(pkg0.subarray(0, 16)).toEqual(expected);
    expect(pkg0.subarray(16)).toEqual(trigger);
    expect(pkg0).toHaveLength(16 + 8 + 'com.example'.length);
  });

  it('parses and verifies what it builds (the device side)', () => {
    const pkg0 = buildNotification(
      { uiMode: 'informative', initiator: 'server', sessionId: 77, serverId: 'dm.example.com' },
      creds,
    );
    const parsed = parseNotification(pkg0);
    expect(parsed.trigger).toMatchObject({
      version: 12,
      uiMode: 'informative',
      initiator: 'server',
      sessionId: 77,
      serverId: 'dm.example.com',
    });
    expect(verifyNotification(pkg0, creds)).toBe(true);
    expect(verifyNotification(pkg0, { ...creds, password: 'other' })).toBe(false);
    expect(verifyNotification(pkg0, { ...creds, nonce: Buffer.from([0, 0, 0, 0]) })).toBe(false);
    const tampered = Buffer.from(pkg0);
    tampered[22] = 0x00; // low byte of the session id
    expect(verifyNotification(tampered, creds)).toBe(false);
    expect(() => parseNotification(Buffer.alloc(10))).toThrow(/too short/);
  });
});

describe('WAP push of Package #0', () => {
  it('wraps it in a WSP push PDU: content type 0xC4, X-Wap-Application-Id syncml.dm (0xAF 0x87)', () => {
    const pkg0 = buildNotification(
      { uiMode: 'background', initiator: 'server', sessionId: 1, serverId: 'x' },
      { password: 'p', nonce: Buffer.alloc(0) },
    );
    // As the push channel sends it (infra/channels/kannel.ts).
    const pdu = encodeWspPush({
      contentType: NOTIFICATION_CONTENT_TYPE,
      applicationId: NOTIFICATION_APPLICATION_ID,
      body: pkg0,
      tid: 0x25,
    });
    expect(pdu.subarray(0, 6).toString('hex')).toBe('250603c4af87');
    expect(pdu.subarray(6)).toEqual(pkg0);
  });

  it('encodes uintvars', () => {
    expect(encodeUintvar(0).toString('hex')).toBe('00');
    expect(encodeUintvar(127).toString('hex')).toBe('7f');
    expect(encodeUintvar(128).toString('hex')).toBe('8100');
    expect(encodeUintvar(0x3fff).toString('hex')).toBe('ff7f');
    expect(decodeUintvar(Buffer.from([0x81, 0x80, 0x00]), 0)).toEqual({ value: 16384, next: 3 });
  });
});
