/**
 * Minimal WSP (WAP-230-WSP) encoding for connectionless WAP push over SMS: the Push PDU that a
 * gateway (or our own SMS sender) puts behind the WDP port-addressing UDH (dest port 2948).
 *
 * Only what OMA DM needs: well-known content types, the X-Wap-Application-Id header and the
 * SEC/MAC content-type parameters of OMA Client Provisioning (OMA-WAP-TS-ProvBoot / ProvCont).
 */

/** WSP well-known content type codes (WSP Table 40 / OMNA registry). */
export const WSP_CONTENT_TYPES: Readonly<Record<string, number>> = {
  'application/vnd.wap.connectivity-wbxml': 0x36,
  'application/vnd.syncml.dm+wbxml': 0x42,
  'application/vnd.syncml.dm+xml': 0x43,
  'application/vnd.syncml.notification': 0x44,
};

/** Push application ids (OMNA push app id registry). */
export const WSP_APPLICATION_IDS: Readonly<Record<string, number>> = {
  'x-wap-application:*': 0x00,
  'x-wap-application:push.sia': 0x01,
  'x-wap-application:wml.ua': 0x02,
  'x-wap-application:syncml.dm': 0x07,
  'x-wap-application:syncml.ds': 0x06,
};

const PDU_TYPE_PUSH = 0x06;
const HEADER_X_WAP_APPLICATION_ID = 0x2f;
const PARAM_SEC = 0x11;
const PARAM_MAC = 0x12;

/** WSP uintvar: 7 bits per octet, most significant first, continuation bit 0x80. */
export function encodeUintvar(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uintvar out of range: ${n}`);
  const out = [n & 0x7f];
  let v = Math.floor(n / 128);
  while (v > 0) {
    out.unshift((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  return Buffer.from(out);
}

export function decodeUintvar(buf: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  for (let i = offset; i < buf.length && i < offset + 5; i++) {
    const b = buf[i] as number;
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new RangeError('truncated uintvar');
}

function valueLength(n: number): Buffer {
  return n <= 30 ? Buffer.from([n]) : Buffer.concat([Buffer.from([31]), encodeUintvar(n)]);
}

function textString(s: string): Buffer {
  // A Text-string starting with a byte >= 128 must be quoted with 0x7f.
  const body = Buffer.from(s, 'utf8');
  const quote = body.length > 0 && (body[0] as number) >= 0x80 ? Buffer.from([0x7f]) : Buffer.alloc(0);
  return Buffer.concat([quote, body, Buffer.from([0])]);
}

/** OMA CP security method (SEC parameter). USERPINMAC is not produced by this server. */
export type CpSecurity = 'NETWPIN' | 'USERPIN' | 'USERNETWPIN' | 'USERPINMAC';
export const CP_SEC_CODES: Readonly<Record<CpSecurity, number>> = { NETWPIN: 0, USERPIN: 1, USERNETWPIN: 2, USERPINMAC: 3 };

/**
 * Encodes a Content-Type value: a bare short integer when there are no parameters, otherwise the
 * general form (Value-length, media, parameters). Unknown media types are sent as text.
 */
export function encodeContentType(mediaType: string, params?: { sec?: CpSecurity; mac?: string }): Buffer {
  const code = WSP_CONTENT_TYPES[mediaType.toLowerCase()];
  const media = code !== undefined ? Buffer.from([0x80 | code]) : textString(mediaType);
  const parts: Buffer[] = [];
  if (params?.sec !== undefined) parts.push(Buffer.from([0x80 | PARAM_SEC, 0x80 | CP_SEC_CODES[params.sec]]));
  if (params?.mac !== undefined) parts.push(Buffer.from([0x80 | PARAM_MAC]), textString(params.mac));
  if (parts.length === 0) return media;
  const body = Buffer.concat([media, ...parts]);
  return Buffer.concat([valueLength(body.length), body]);
}

/**
 * A connectionless WSP Push PDU: TID, PDU type 0x06, HeadersLen, ContentType, Headers, Data.
 * With `applicationId`, an X-Wap-Application-Id header is added (well-known ids as short integers).
 */
export function buildWspPushPdu(params: {
  contentType: string;
  contentTypeParams?: { sec?: CpSecurity; mac?: string };
  applicationId?: string;
  body: Uint8Array;
  transactionId?: number;
}): Buffer {
  const ct = encodeContentType(params.contentType, params.contentTypeParams);
  const headers: Buffer[] = [];
  if (params.applicationId !== undefined) {
    const id = WSP_APPLICATION_IDS[params.applicationId.toLowerCase()];
    headers.push(
      Buffer.from([0x80 | HEADER_X_WAP_APPLICATION_ID]),
      id !== undefined && id < 0x80 ? Buffer.from([0x80 | id]) : textString(params.applicationId),
    );
  }
  const headerBlock = Buffer.concat([ct, ...headers]);
  return Buffer.concat([
    Buffer.from([(params.transactionId ?? 0) & 0xff, PDU_TYPE_PUSH]),
    encodeUintvar(headerBlock.length),
    headerBlock,
    Buffer.from(params.body),
  ]);
}

/** The 7-byte UDH addressing WDP port 2948 (WAP push) from port 9200, for a single SMS. */
export function wapPushUdh(): Buffer {
  return Buffer.from([0x06, 0x05, 0x04, 0x0b, 0x84, 0x23, 0xf0]);
}
