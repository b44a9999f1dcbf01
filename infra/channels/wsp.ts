/**
 * WAP push over SMS, encoded here (WAP-230 WSP, WAP-259 WDP):
 *
 *   SMS UDH  06 05 04 0B84 23F0          16-bit port addressing: to port 2948 (WAP push), from 9200
 *   SMS data <TID> 06 <headers-len> <content-type> <headers> <body>     connectionless WSP Push PDU
 *
 * Used for binary pushes (OMA DM Package #0 trigger, OMA CP bootstrap) that the Kannel channel sends
 * through smsbox's sendsms (`udh` + binary `text`) instead of the PPG: Kannel's PPG encodes media
 * types it does not know as text and drops Content-Type parameters such as SEC/MAC, which OMA Client
 * Provisioning needs. Content types and push application ids use the OMNA well-known codes.
 * The OMA DM server (omadm/) builds its Package #0 and bootstrap push PDUs with the same encoder.
 */

/** UDH of a WAP push: information element 0x05 (application port addressing, 16 bit). */
export const WAP_PUSH_UDH = Buffer.from([0x06, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0]);

/** OMNA WSP content type codes (WSP 1.1–1.6), value = assigned number (encoded as 0x80 | code). */
const CONTENT_TYPES: readonly string[] = [
  '*/*',
  'text/*',
  'text/html',
  'text/plain',
  'text/x-hdml',
  'text/x-ttml',
  'text/x-vCalendar',
  'text/x-vCard',
  'text/vnd.wap.wml',
  'text/vnd.wap.wmlscript',
  'application/vnd.wap.catc',
  'multipart/*',
  'multipart/mixed',
  'multipart/form-data',
  'multipart/byteranges',
  'multipart/alternative',
  'application/*',
  'application/java-vm',
  'application/x-www-form-urlencoded',
  'application/x-hdmlc',
  'application/vnd.wap.wmlc',
  'application/vnd.wap.wmlscriptc',
  'application/vnd.wap.wsic',
  'application/vnd.wap.uaprof',
  'application/vnd.wap.wtls-ca-certificate',
  'application/vnd.wap.wtls-user-certificate',
  'application/x-x509-ca-cert',
  'application/x-x509-user-cert',
  'image/*',
  'image/gif',
  'image/jpeg',
  'image/tiff',
  'image/png',
  'image/vnd.wap.wbmp',
  'application/vnd.wap.multipart.*',
  'application/vnd.wap.multipart.mixed',
  'application/vnd.wap.multipart.form-data',
  'application/vnd.wap.multipart.byteranges',
  'application/vnd.wap.multipart.alternative',
  'application/xml',
  'text/xml',
  'application/vnd.wap.wbxml',
  'application/x-x968-cross-cert',
  'application/x-x968-ca-cert',
  'application/x-x968-user-cert',
  'text/vnd.wap.si',
  'application/vnd.wap.sic',
  'text/vnd.wap.sl',
  'application/vnd.wap.slc',
  'text/vnd.wap.co',
  'application/vnd.wap.coc',
  'application/vnd.wap.multipart.related',
  'application/vnd.wap.sia',
  'text/vnd.wap.connectivity-xml',
  'application/vnd.wap.connectivity-wbxml',
  'application/pkcs7-mime',
  'application/vnd.wap.hashed-certificate',
  'application/vnd.wap.signed-certificate',
  'application/vnd.wap.cert-response',
  'application/xhtml+xml',
  'application/wml+xml',
  'text/css',
  'application/vnd.wap.mms-message',
  'application/vnd.wap.rollover-certificate',
  'application/vnd.wap.locc+wbxml',
  'application/vnd.wap.loc+xml',
  'application/vnd.syncml.dm+wbxml',
  'application/vnd.syncml.dm+xml',
  'application/vnd.syncml.notification',
  'application/vnd.wap.xhtml+xml',
  'application/vnd.wv.csp.cir',
  'application/vnd.oma.dd+xml',
  'application/vnd.oma.drm.message',
  'application/vnd.oma.drm.content',
  'application/vnd.oma.drm.rights+xml',
  'application/vnd.oma.drm.rights+wbxml',
  'application/vnd.wv.csp+xml',
  'application/vnd.wv.csp+wbxml',
  'application/vnd.syncml.ds.notification',
  'audio/*',
  'video/*',
];
const CONTENT_TYPE_CODES = new Map(CONTENT_TYPES.map((t, i) => [t.toLowerCase(), i]));

/** OMNA push application ids ("x-wap-application:" prefix implied). */
const APPLICATION_IDS: Record<string, number> = {
  '*': 0x00,
  'push.sia': 0x01,
  'wml.ua': 0x02,
  'wta.ua': 0x03,
  'mms.ua': 0x04,
  'push.syncml': 0x05,
  'loc.ua': 0x06,
  'syncml.dm': 0x07,
  'drm.ua': 0x08,
  'emn.ua': 0x09,
  'wv.ua': 0x0a,
  'x-oma-application:ulp.ua': 0x10,
  'x-oma-application:dlota.ua': 0x11,
  'x-oma-application:java-ams': 0x12,
  'x-oma-application:bcast.ua': 0x13,
  'x-oma-application:dpe.ua': 0x14,
  'x-wap-microsoft:localcontent.ua': 0x8000,
};

/** OMA Client Provisioning security method: the SEC Content-Type parameter (OMA-WAP-TS-ProvBoot). */
export type CpSecurity = 'NETWPIN' | 'USERPIN' | 'USERNETWPIN' | 'USERPINMAC';

/** Well-known Content-Type parameters (WSP table 38) we encode in binary form. */
const SEC_VALUES: Readonly<Record<string, number>> = {
  NETWPIN: 0,
  USERPIN: 1,
  USERNETWPIN: 2,
  USERPINMAC: 3,
} satisfies Record<CpSecurity, number>;
const CHARSETS: Record<string, number> = {
  'us-ascii': 3,
  'iso-8859-1': 4,
  'utf-8': 106,
  'iso-10646-ucs-2': 1000,
  'utf-16': 1015,
};

export interface WspPush {
  /** e.g. `application/vnd.wap.connectivity-wbxml; SEC=USERPIN; MAC=…` */
  contentType: string;
  /** e.g. `x-wap-application:syncml.dm`, a bare OMNA name (`syncml.dm`) or a number (`7`, `0x07`). */
  applicationId?: string;
  body: Buffer;
  /** Transaction id byte (default 0). */
  tid?: number;
}

/** The connectionless WSP Push PDU (without the WDP/UDH part). */
export function encodeWspPush(p: WspPush): Buffer {
  const ct = encodeContentType(p.contentType);
  const headers =
    p.applicationId === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0xaf]), encodeApplicationId(p.applicationId)]);
  const headerBlock = Buffer.concat([ct, headers]);
  return Buffer.concat([Buffer.from([(p.tid ?? 0) & 0xff, 0x06]), uintvar(headerBlock.length), headerBlock, p.body]);
}

function encodeContentType(contentType: string): Buffer {
  const parts = contentType
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  const media = parts.shift();
  if (!media || !/^[\w.+*-]+\/[\w.+*-]+$/.test(media)) throw new Error(`invalid content type "${contentType}"`);
  const code = CONTENT_TYPE_CODES.get(media.toLowerCase());
  const mediaBytes = code !== undefined ? Buffer.from([0x80 | code]) : textString(media);
  if (parts.length === 0) return mediaBytes;
  const params = parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`invalid content type parameter "${p}" in "${contentType}"`);
    return encodeParameter(p.slice(0, eq).trim(), unquote(p.slice(eq + 1).trim()));
  });
  const value = Buffer.concat([mediaBytes, ...params]);
  return Buffer.concat([valueLength(value.length), value]);
}

function encodeParameter(name: string, value: string): Buffer {
  const lname = name.toLowerCase();
  if (lname === 'sec') {
    const n = /^\d+$/.test(value) ? Number(value) : SEC_VALUES[value.toUpperCase()];
    if (n === undefined || n > 127) throw new Error(`unknown SEC value "${value}"`);
    return Buffer.from([0x91, 0x80 | n]);
  }
  if (lname === 'mac') return Buffer.concat([Buffer.from([0x92]), textString(value)]);
  if (lname === 'charset') {
    const mib = CHARSETS[value.toLowerCase()];
    if (mib !== undefined) return Buffer.concat([Buffer.from([0x81]), integerValue(mib)]);
  }
  // Untyped-parameter = Token-text Untyped-value (Text-value)
  return Buffer.concat([textString(name), textString(value)]);
}

function encodeApplicationId(appId: string): Buffer {
  const id = appId.trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(id)) return integerValue(Number(id));
  const bare = id.replace(/^x-wap-application:/i, '');
  const code = APPLICATION_IDS[bare] ?? APPLICATION_IDS[id];
  if (code !== undefined) return integerValue(code);
  return textString(id);
}

/** WSP Integer-value: Short-integer (< 128) or Long-integer. */
function integerValue(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0) throw new Error(`invalid integer ${n}`);
  if (n < 0x80) return Buffer.from([0x80 | n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([bytes.length, ...bytes]);
}

/** WSP Text-string (NUL-terminated; a leading byte >= 0x80 is quoted with 0x7F). */
function textString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([b[0] !== undefined && b[0] >= 0x80 ? Buffer.from([0x7f]) : Buffer.alloc(0), b, Buffer.from([0])]);
}

function valueLength(n: number): Buffer {
  return n <= 30 ? Buffer.from([n]) : Buffer.concat([Buffer.from([0x1f]), uintvar(n)]);
}

/** WSP uintvar: 7 bits per octet, most significant first, continuation bit 0x80. */
export function uintvar(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uintvar out of range: ${n}`);
  const out = [n & 0x7f];
  for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift(0x80 | (v & 0x7f));
  return Buffer.from(out);
}

/** Reads a uintvar at `offset` (at most 5 octets); `next` is the offset after it. */
export function decodeUintvar(buf: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  for (let i = offset; i < buf.length && i < offset + 5; i++) {
    const b = buf[i] as number;
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new RangeError('truncated uintvar');
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}
