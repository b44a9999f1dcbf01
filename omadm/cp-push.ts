/**
 * The bootstrap WAP push (M2; OMA-WAP-TS-ProvBoot 1.1 §5): the WBXML document, the SEC/MAC
 * content-type parameters that authenticate it (HMAC-SHA1 keyed with the IMSI and/or a user PIN)
 * and the WSP push PDU.
 */
import { createHmac } from 'node:crypto';
import { type CpSecurity, encodeWspPush } from '../infra/channels/wsp';
import { type CpDocument, ProvisioningError } from './cp-document';
import { CP_WBXML_CONTENT_TYPE, encodeProvisioningWbxml } from './cp-wbxml';

/**
 * The NETWPIN key: the IMSI in semi-octet form as stored in EF_IMSI without its length byte —
 * first octet = first digit in the high nibble, low nibble 1001 (odd number of digits) or
 * 0001 (even); then two digits per octet, low nibble first; 0xF pads the last high nibble.
 */
export function imsiKey(imsi: string): Buffer {
  if (!/^\d{1,15}$/.test(imsi)) throw new ProvisioningError('IMSI must be 1..15 digits');
  const d = [...imsi].map(Number) as number[];
  const out = [((d[0] as number) << 4) | 0x01 | ((d.length % 2) << 3)];
  for (let i = 1; i < d.length; i += 2) {
    const lo = d[i] as number;
    const hi = i + 1 < d.length ? (d[i + 1] as number) : 0x0f;
    out.push((hi << 4) | lo);
  }
  return Buffer.from(out);
}

export type BootstrapSecurity =
  | { sec: 'NETWPIN'; imsi: string }
  | { sec: 'USERPIN'; pin: string }
  | { sec: 'USERNETWPIN'; imsi: string; pin: string };

/** MAC parameter: HMAC-SHA1(key, WBXML document), 40 upper-case hex digits. */
export function computeBootstrapMac(document: Uint8Array, security: BootstrapSecurity): string {
  const key =
    security.sec === 'NETWPIN'
      ? imsiKey(security.imsi)
      : security.sec === 'USERPIN'
        ? Buffer.from(security.pin, 'utf8')
        : Buffer.concat([imsiKey(security.imsi), Buffer.from(security.pin, 'utf8')]);
  return createHmac('sha1', key).update(document).digest('hex').toUpperCase();
}

export interface BootstrapPush {
  /** Bare media type (for BinaryPushMessage.contentType when the gateway adds SEC/MAC itself). */
  contentType: string;
  /** Full content type with parameters, e.g. `application/vnd.wap.connectivity-wbxml; SEC=NETWPIN; MAC=…`. */
  contentTypeHeader: string;
  sec?: CpSecurity;
  mac?: string;
  /** The WBXML document: the push body. */
  body: Buffer;
  /** A complete connectionless WSP push PDU (TID, 0x06, headers, body). */
  pushPdu: Buffer;
}

/** Builds the bootstrap WAP push (M2): WBXML body, SEC/MAC and the WSP push PDU. */
export function buildBootstrapPush(doc: CpDocument, security?: BootstrapSecurity, transactionId = 0): BootstrapPush {
  const body = encodeProvisioningWbxml(doc);
  const result: BootstrapPush = {
    contentType: CP_WBXML_CONTENT_TYPE,
    contentTypeHeader: CP_WBXML_CONTENT_TYPE,
    body,
    pushPdu: Buffer.alloc(0),
  };
  if (security) {
    const mac = computeBootstrapMac(body, security);
    result.sec = security.sec;
    result.mac = mac;
    result.contentTypeHeader = `${CP_WBXML_CONTENT_TYPE}; SEC=${security.sec}; MAC=${mac}`;
  }
  result.pushPdu = encodeWspPush({ contentType: result.contentTypeHeader, body, tid: transactionId });
  return result;
}
