/**
 * OMA DM application-layer authentication (OMA-TS-DM_Security 1.2, OMA-TS-DM_Protocol 1.2 §9; M2):
 * `syncml:auth-basic`, `syncml:auth-md5` and HMAC (`x-syncml-hmac`), nonces. Secrets are compared in
 * constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Chal, Cred } from './syncml';

export const AUTH_TYPE_BASIC = 'syncml:auth-basic';
export const AUTH_TYPE_MD5 = 'syncml:auth-md5';
const AUTH_TYPE_MAC = 'syncml:auth-MAC';
export const HMAC_HEADER = 'x-syncml-hmac';

export type AuthScheme = 'basic' | 'md5' | 'hmac';

type Bytes = string | Uint8Array;

function bytes(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
}

/** MD5 over the concatenation of the parts (strings as UTF-8). */
export function md5(...parts: Bytes[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(bytes(p));
  return h.digest();
}

export function b64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

/** B64(MD5(username:password)): the per-account secret both digests start from. */
function credentialHash(username: string, password: string): string {
  return b64(md5(`${username}:${password}`));
}

/**
 * `syncml:auth-md5` digest: B64(MD5(B64(MD5(username:password)) ":" nonce)). The client's username
 * travels in SyncHdr/Source/LocName; the server's is its server id.
 * `nonce` is raw bytes (a string is taken as UTF-8 bytes, which is what the spec's worked example
 * with nonce "Nonce" means). Use `decodeNonce(nextNonceB64)` for a NextNonce from a Chal.
 */
export function computeMd5Digest(username: string, password: string, nonce: Bytes): string {
  return b64(md5(credentialHash(username, password), ':', nonce));
}

/** Constant-time comparison of two base64 digests (false on any length/format mismatch). */
function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a.trim(), 'utf8');
  const y = Buffer.from(b.trim(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifyMd5Digest(digestB64: string, username: string, password: string, nonce: Bytes): boolean {
  return digestsEqual(digestB64, computeMd5Digest(username, password, nonce));
}

/** `syncml:auth-basic` Cred Data: B64(username ":" password). */
export function encodeBasicCredentials(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** Decodes `syncml:auth-basic` data; the password may contain ':' (split at the first one). */
export function decodeBasicCredentials(data: string): { username: string; password: string } | undefined {
  const trimmed = data.trim();
  if (trimmed === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const text = Buffer.from(trimmed, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** HMAC mac: B64(MD5(B64(MD5(username:password)) ":" nonce ":" B64(MD5(body)))). */
export function computeHmacMac(params: { username: string; password: string; nonce: Bytes; body: Bytes }): string {
  const bodyHash = b64(md5(params.body));
  return b64(md5(credentialHash(params.username, params.password), ':', params.nonce, ':', bodyHash));
}

export interface HmacHeader {
  algorithm: string;
  username: string;
  mac: string;
}

/** `algorithm=MD5, username="name", mac=base64` (value of the x-syncml-hmac HTTP header). */
export function formatHmacHeader(h: { username: string; mac: string; algorithm?: string }): string {
  const user = h.username.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `algorithm=${h.algorithm ?? 'MD5'}, username="${user}", mac=${h.mac}`;
}

/** Parses an x-syncml-hmac value; keys are case-insensitive, values may be quoted. */
export function parseHmacHeader(value: string): HmacHeader | undefined {
  const fields: Record<string, string> = {};
  const re = /([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const m of value.matchAll(re)) {
    const key = (m[1] ?? '').toLowerCase();
    fields[key] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  const { username, mac } = fields;
  if (username === undefined || mac === undefined || mac === '') return undefined;
  return { algorithm: fields.algorithm ?? 'MD5', username, mac };
}

/** Verifies an x-syncml-hmac header against the body bytes; only algorithm MD5 is supported. */
export function verifyHmac(params: {
  header: string | HmacHeader;
  password: string;
  nonce: Bytes;
  body: Bytes;
  /** When given, the header's username must equal it. */
  username?: string;
}): boolean {
  const h = typeof params.header === 'string' ? parseHmacHeader(params.header) : params.header;
  if (h === undefined) return false;
  if (h.algorithm.toUpperCase() !== 'MD5') return false;
  if (params.username !== undefined && h.username !== params.username) return false;
  const expected = computeHmacMac({ username: h.username, password: params.password, nonce: params.nonce, body: params.body });
  return digestsEqual(h.mac, expected);
}

/** A fresh random nonce, base64 (as carried in NextNonce / AAUTHDATA). */
export function generateNonce(size = 16, random: (n: number) => Uint8Array = randomBytes): string {
  return b64(random(size));
}

/** Raw nonce bytes from its base64 transport form. */
export function decodeNonce(nonceB64: string): Buffer {
  return Buffer.from(nonceB64.trim(), 'base64');
}

export function schemeOfType(type: string | undefined): AuthScheme | undefined {
  switch (type?.trim().toLowerCase()) {
    case AUTH_TYPE_BASIC:
      return 'basic';
    case AUTH_TYPE_MD5:
      return 'md5';
    case AUTH_TYPE_MAC.toLowerCase():
      return 'hmac';
    default:
      return undefined;
  }
}

function typeOfScheme(scheme: AuthScheme): string {
  return scheme === 'basic' ? AUTH_TYPE_BASIC : scheme === 'md5' ? AUTH_TYPE_MD5 : AUTH_TYPE_MAC;
}

/** A Chal for the scheme; md5/hmac carry a (b64) NextNonce. */
export function buildChal(scheme: AuthScheme, nextNonceB64?: string): Chal {
  const meta: Chal['meta'] = { type: typeOfScheme(scheme), format: 'b64' };
  if (scheme !== 'basic' && nextNonceB64 !== undefined) meta.nextNonce = nextNonceB64;
  return { meta };
}

/** A Cred for SyncHdr (e.g. the server authenticating to the client with its APPSRV secret). */
export function buildCred(scheme: 'basic' | 'md5', username: string, password: string, nonceB64?: string): Cred {
  if (scheme === 'basic') {
    return { meta: { type: AUTH_TYPE_BASIC, format: 'b64' }, data: encodeBasicCredentials(username, password) };
  }
  return {
    meta: { type: AUTH_TYPE_MD5, format: 'b64' },
    data: computeMd5Digest(username, password, decodeNonce(nonceB64 ?? '')),
  };
}

export type CredCheck =
  | { ok: true; scheme: 'basic' | 'md5'; username: string }
  | {
      ok: false;
      scheme?: AuthScheme;
      reason: 'missing' | 'unsupported-type' | 'wrong-scheme' | 'bad-username' | 'bad-credentials';
    };

/**
 * Checks a SyncHdr Cred against an account.
 * For md5 the username is SyncHdr/Source/LocName (pass it as `locName`); when absent the expected
 * username is assumed. `allowed` restricts the accepted schemes (default: md5 only).
 */
export function verifyCred(
  cred: Cred | undefined,
  account: { username: string; password: string; nonceB64: string },
  opts: { locName?: string; allowed?: readonly ('basic' | 'md5')[] } = {},
): CredCheck {
  if (!cred || cred.data.trim() === '') return { ok: false, reason: 'missing' };
  // Default type is auth-basic (SyncML MetInf default), but DM clients always state it.
  const scheme = cred.meta?.type === undefined ? 'basic' : schemeOfType(cred.meta.type);
  if (scheme === undefined || scheme === 'hmac') return { ok: false, reason: 'unsupported-type' };
  const allowed = opts.allowed ?? ['md5'];
  if (!allowed.includes(scheme)) return { ok: false, scheme, reason: 'wrong-scheme' };
  if (scheme === 'basic') {
    const decoded = decodeBasicCredentials(cred.data);
    if (!decoded) return { ok: false, scheme, reason: 'bad-credentials' };
    const userOk = digestsEqual(decoded.username, account.username);
    const passOk = digestsEqual(md5(decoded.password).toString('hex'), md5(account.password).toString('hex'));
    if (!userOk) return { ok: false, scheme, reason: 'bad-username' };
    if (!passOk) return { ok: false, scheme, reason: 'bad-credentials' };
    return { ok: true, scheme, username: decoded.username };
  }
  const username = opts.locName ?? account.username;
  if (username !== account.username) return { ok: false, scheme, reason: 'bad-username' };
  if (!verifyMd5Digest(cred.data, account.username, account.password, decodeNonce(account.nonceB64))) {
    return { ok: false, scheme, reason: 'bad-credentials' };
  }
  return { ok: true, scheme, username };
}
