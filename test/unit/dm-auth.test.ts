import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AUTH_TYPE_BASIC,
  AUTH_TYPE_MD5,
  buildChal,
  buildCred,
  computeHmacMac,
  computeMd5Digest,
  decodeBasicCredentials,
  decodeNonce,
  encodeBasicCredentials,
  formatHmacHeader,
  generateNonce,
  parseHmacHeader,
  schemeOfType,
  verifyCred,
  verifyHmac,
  verifyMd5Digest,
} from '../../omadm/dm-auth';
import { parseSyncML } from '../../omadm/syncml';

// Independent step-by-step reference computations with node:crypto.
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest();

describe('syncml:auth-md5', () => {
  it('matches the OMA DM Protocol worked example (Bruce2 / OhBehave / nonce "Nonce")', () => {
    // OMA-TS-DM_Protocol 1.2 §"MD5 digest access authentication with a challenge":
    // Cred Data Zz6EivR3yeaaENcRN6lpAQ== for user "Bruce2", password "OhBehave", nonce "Nonce".
    expect(computeMd5Digest('Bruce2', 'OhBehave', 'Nonce')).toBe('Zz6EivR3yeaaENcRN6lpAQ==');
    // The nonce travels base64 in NextNonce: "Tm9uY2U=" decodes to the raw bytes "Nonce".
    expect(computeMd5Digest('Bruce2', 'OhBehave', decodeNonce('Tm9uY2U='))).toBe('Zz6EivR3yeaaENcRN6lpAQ==');
  });

  it('uses the raw nonce bytes, computed step by step', () => {
    const nonce = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0xfe, 0x00]);
    const step1 = md5('dev-1:s3cr3t:with:colons').toString('base64');
    const step2 = md5(Buffer.concat([Buffer.from(`${step1}:`, 'utf8'), nonce])).toString('base64');
    expect(computeMd5Digest('dev-1', 's3cr3t:with:colons', nonce)).toBe(step2);
    // Using the base64 text instead of the bytes gives a different (wrong) digest.
    expect(computeMd5Digest('dev-1', 's3cr3t:with:colons', nonce.toString('base64'))).not.toBe(step2);
    expect(verifyMd5Digest(step2, 'dev-1', 's3cr3t:with:colons', nonce)).toBe(true);
    expect(verifyMd5Digest(step2, 'dev-1', 'wrong', nonce)).toBe(false);
    expect(verifyMd5Digest('short', 'dev-1', 's3cr3t:with:colons', nonce)).toBe(false);
  });

  it('verifies the OMA example message Cred (username from Source/LocName)', () => {
    const xml = `<SyncML xmlns='SYNCML:SYNCML1.2'>
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>DM/1.2</VerProto>
    <SessionID>1</SessionID>
    <MsgID>2</MsgID>
    <Target><LocURI>http://www.syncml.org/mgmt-server</LocURI></Target>
    <Source>
      <LocURI>IMEI:493005100592800</LocURI>
      <LocName>Bruce2</LocName> <!-- userid -->
    </Source>
    <Cred>
     <Meta>
       <Type xmlns='syncml:metinf'>syncml:auth-md5</Type>
       <Format xmlns='syncml :metinf'>b64</Format>
     </Meta>
    <Data>Zz6EivR3yeaaENcRN6lpAQ==</Data>
    </Cred>
  </SyncHdr>
  <SyncBody>
     ...
  </SyncBody>
</SyncML>`;
    const m = parseSyncML(xml);
    const account = { username: 'Bruce2', password: 'OhBehave', nonceB64: Buffer.from('Nonce').toString('base64') };
    expect(verifyCred(m.header.cred, account, { locName: m.header.source.locName as string })).toEqual({
      ok: true,
      scheme: 'md5',
      username: 'Bruce2',
    });
    expect(verifyCred(m.header.cred, { ...account, nonceB64: 'AAAA' }, { locName: 'Bruce2' })).toMatchObject({
      ok: false,
      reason: 'bad-credentials',
    });
    expect(verifyCred(m.header.cred, account, { locName: 'Mallory' })).toMatchObject({ ok: false, reason: 'bad-username' });
    expect(verifyCred(undefined, account)).toEqual({ ok: false, reason: 'missing' });
  });

  it('builds a server Cred and a Chal', () => {
    const nonce = Buffer.from('server-nonce').toString('base64');
    const cred = buildCred('md5', 'dm.example.com', 'srv-pass', nonce);
    expect(cred.meta).toEqual({ type: AUTH_TYPE_MD5, format: 'b64' });
    const inner = md5('dm.example.com:srv-pass').toString('base64');
    expect(cred.data).toBe(md5(`${inner}:server-nonce`).toString('base64'));
    expect(buildChal('md5', 'AAEC')).toEqual({ meta: { type: AUTH_TYPE_MD5, format: 'b64', nextNonce: 'AAEC' } });
    expect(buildChal('basic', 'ignored')).toEqual({ meta: { type: AUTH_TYPE_BASIC, format: 'b64' } });
  });
});

describe('syncml:auth-basic', () => {
  it('matches the OMA DM Protocol example (QnJ1Y2UyOk9oQmVoYXZl)', () => {
    expect(encodeBasicCredentials('Bruce2', 'OhBehave')).toBe('QnJ1Y2UyOk9oQmVoYXZl');
    expect(decodeBasicCredentials('QnJ1Y2UyOk9oQmVoYXZl')).toEqual({ username: 'Bruce2', password: 'OhBehave' });
  });

  it('splits at the first colon and rejects junk', () => {
    expect(decodeBasicCredentials(encodeBasicCredentials('u', 'p:a:ss'))).toEqual({ username: 'u', password: 'p:a:ss' });
    expect(decodeBasicCredentials(Buffer.from('nocolon').toString('base64'))).toBeUndefined();
    expect(decodeBasicCredentials('***')).toBeUndefined();
    expect(decodeBasicCredentials('')).toBeUndefined();
  });

  it('is only accepted when allowed', () => {
    const cred = { meta: { type: AUTH_TYPE_BASIC, format: 'b64' }, data: encodeBasicCredentials('u', 'p') };
    const account = { username: 'u', password: 'p', nonceB64: '' };
    expect(verifyCred(cred, account)).toMatchObject({ ok: false, reason: 'wrong-scheme' });
    expect(verifyCred(cred, account, { allowed: ['basic'] })).toEqual({ ok: true, scheme: 'basic', username: 'u' });
    expect(verifyCred({ ...cred, data: encodeBasicCredentials('u', 'x') }, account, { allowed: ['basic'] })).toMatchObject({
      ok: false,
      reason: 'bad-credentials',
    });
  });
});

describe('HMAC (x-syncml-hmac)', () => {
  const body = '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/></SyncML>';
  const nonce = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);

  it('computes mac = B64(MD5(B64(MD5(user:pass)):nonce:B64(MD5(body)))) step by step', () => {
    const a = md5('IMEI:1:pw').toString('base64');
    const b = md5(body).toString('base64');
    const expected = md5(Buffer.concat([Buffer.from(`${a}:`), nonce, Buffer.from(`:${b}`)])).toString('base64');
    expect(computeHmacMac({ username: 'IMEI:1', password: 'pw', nonce, body })).toBe(expected);
    expect(computeHmacMac({ username: 'IMEI:1', password: 'pw', nonce, body: Buffer.from(body) })).toBe(expected);
  });

  it('formats, parses and verifies the header', () => {
    const mac = computeHmacMac({ username: 'IMEI:1', password: 'pw', nonce, body });
    const header = formatHmacHeader({ username: 'IMEI:1', mac });
    expect(header).toBe(`algorithm=MD5, username="IMEI:1", mac=${mac}`);
    expect(parseHmacHeader(header)).toEqual({ algorithm: 'MD5', username: 'IMEI:1', mac });
    expect(parseHmacHeader(`Username=IMEI:1,MAC=${mac}`)).toEqual({ algorithm: 'MD5', username: 'IMEI:1', mac });
    expect(parseHmacHeader('algorithm=MD5')).toBeUndefined();
    expect(verifyHmac({ header, password: 'pw', nonce, body })).toBe(true);
    expect(verifyHmac({ header, password: 'pw', nonce, body, username: 'IMEI:1' })).toBe(true);
    expect(verifyHmac({ header, password: 'pw', nonce, body, username: 'IMEI:2' })).toBe(false);
    expect(verifyHmac({ header, password: 'pw', nonce, body: `${body} ` })).toBe(false);
    expect(verifyHmac({ header, password: 'other', nonce, body })).toBe(false);
    expect(verifyHmac({ header: header.replace('MD5', 'SHA1'), password: 'pw', nonce, body })).toBe(false);
  });
});

describe('nonces and scheme names', () => {
  it('generates base64 nonces of the requested size', () => {
    const n = generateNonce(16);
    expect(decodeNonce(n)).toHaveLength(16);
    expect(generateNonce(16)).not.toBe(n);
    expect(generateNonce(4, (size) => Buffer.alloc(size, 0xab))).toBe(Buffer.from([0xab, 0xab, 0xab, 0xab]).toString('base64'));
  });

  it('maps Meta types to schemes', () => {
    expect(schemeOfType('syncml:auth-md5')).toBe('md5');
    expect(schemeOfType(' syncml:auth-basic ')).toBe('basic');
    expect(schemeOfType('syncml:auth-MAC')).toBe('hmac');
    expect(schemeOfType('x-unknown')).toBeUndefined();
  });
});
