/**
 * WBXML codec of Client Provisioning documents (WAP-192-WBXML 1.3; OMA-WAP-TS-ProvCont 1.1 code
 * pages 0 and 1; public id 0x0B "-//WAPFORUM//DTD PROV 1.0//EN", UTF-8): the body of the bootstrap push.
 */
import { type CpCharacteristic, type CpDocument, ProvisioningError } from './cp-document';
import { ByteReader, ByteWriter, tableString as readTableString, WB } from './wbxml';

export const CP_WBXML_CONTENT_TYPE = 'application/vnd.wap.connectivity-wbxml';
const CP_PUBLIC_ID = 0x0b;
const CP_PUBLIC_ID_TEXT = '-//WAPFORUM//DTD PROV 1.0//EN';

const TAGS: Readonly<Record<string, number>> = { 'wap-provisioningdoc': 0x05, characteristic: 0x06, parm: 0x07 };
const TAG_NAMES: ReadonlyMap<number, string> = new Map([
  [0x05, 'wap-provisioningdoc'],
  [0x06, 'characteristic'],
  [0x07, 'parm'],
]);

/** Attribute-start tokens: [attribute name, value prefix] per code page. */
type AttrStart = readonly [attr: string, prefix: string];

const PAGE0_NAMES = [
  [0x07, 'NAME'],
  [0x08, 'NAP-ADDRESS'],
  [0x09, 'NAP-ADDRTYPE'],
  [0x0a, 'CALLTYPE'],
  [0x0b, 'VALIDUNTIL'],
  [0x0c, 'AUTHTYPE'],
  [0x0d, 'AUTHNAME'],
  [0x0e, 'AUTHSECRET'],
  [0x0f, 'LINGER'],
  [0x10, 'BEARER'],
  [0x11, 'NAPID'],
  [0x12, 'COUNTRY'],
  [0x13, 'NETWORK'],
  [0x14, 'INTERNET'],
  [0x15, 'PROXY-ID'],
  [0x16, 'PROXY-PROVIDER-ID'],
  [0x17, 'DOMAIN'],
  [0x18, 'PROVURL'],
  [0x19, 'PXAUTH-TYPE'],
  [0x1a, 'PXAUTH-ID'],
  [0x1b, 'PXAUTH-PW'],
  [0x1c, 'STARTPAGE'],
  [0x1d, 'BASAUTH-ID'],
  [0x1e, 'BASAUTH-PW'],
  [0x1f, 'PUSHENABLED'],
  [0x20, 'PXADDR'],
  [0x21, 'PXADDRTYPE'],
  [0x22, 'TO-NAPID'],
  [0x23, 'PORTNBR'],
  [0x24, 'SERVICE'],
  [0x25, 'LINKSPEED'],
  [0x26, 'DNLINKSPEED'],
  [0x27, 'LOCAL-ADDR'],
  [0x28, 'LOCAL-ADDRTYPE'],
  [0x29, 'CONTEXT-ALLOW'],
  [0x2a, 'TRUST'],
  [0x2b, 'MASTER'],
  [0x2c, 'SID'],
  [0x2d, 'SOC'],
  [0x2e, 'WSP-VERSION'],
  [0x2f, 'PHYSICAL-PROXY-ID'],
  [0x30, 'CLIENT-ID'],
  [0x31, 'DELIVERY-ERR-SDU'],
  [0x32, 'DELIVERY-ORDER'],
  [0x33, 'TRAFFIC-CLASS'],
  [0x34, 'MAX-SDU-SIZE'],
  [0x35, 'MAX-BITRATE-UPLINK'],
  [0x36, 'MAX-BITRATE-DNLINK'],
  [0x37, 'RESIDUAL-BER'],
  [0x38, 'SDU-ERROR-RATIO'],
  [0x39, 'TRAFFIC-HANDL-PRIO'],
  [0x3a, 'TRANSFER-DELAY'],
  [0x3b, 'GUARANTEED-BITRATE-UPLINK'],
  [0x3c, 'GUARANTEED-BITRATE-DNLINK'],
  [0x3d, 'PXADDR-FQDN'],
  [0x3e, 'PROXY-PW'],
  [0x3f, 'PPGAUTH-TYPE'],
  [0x47, 'PULLENABLED'],
  [0x48, 'DNS-ADDR'],
  [0x49, 'MAX-NUM-RETRY'],
  [0x4a, 'FIRST-RETRY-TIMEOUT'],
  [0x4b, 'REREG-THRESHOLD'],
  [0x4c, 'T-BIT'],
  [0x4e, 'AUTH-ENTITY'],
  [0x4f, 'SPI'],
] as const;
const PAGE0_TYPES = [
  [0x51, 'PXLOGICAL'],
  [0x52, 'PXPHYSICAL'],
  [0x53, 'PORT'],
  [0x54, 'VALIDITY'],
  [0x55, 'NAPDEF'],
  [0x56, 'BOOTSTRAP'],
  [0x57, 'VENDORCONFIG'],
  [0x58, 'CLIENTIDENTITY'],
  [0x59, 'PXAUTHINFO'],
  [0x5a, 'NAPAUTHINFO'],
  [0x5b, 'ACCESS'],
] as const;
const PAGE1_NAMES = [
  [0x07, 'NAME'],
  [0x14, 'INTERNET'],
  [0x1c, 'STARTPAGE'],
  [0x22, 'TO-NAPID'],
  [0x23, 'PORTNBR'],
  [0x24, 'SERVICE'],
  [0x2e, 'AACCEPT'],
  [0x2f, 'AAUTHDATA'],
  [0x30, 'AAUTHLEVEL'],
  [0x31, 'AAUTHNAME'],
  [0x32, 'AAUTHSECRET'],
  [0x33, 'AAUTHTYPE'],
  [0x34, 'ADDR'],
  [0x35, 'ADDRTYPE'],
  [0x36, 'APPID'],
  [0x37, 'APROTOCOL'],
  [0x38, 'PROVIDER-ID'],
  [0x39, 'TO-PROXY'],
  [0x3a, 'URI'],
  [0x3b, 'RULE'],
] as const;
const PAGE1_TYPES = [
  [0x53, 'PORT'],
  [0x55, 'APPLICATION'],
  [0x56, 'APPADDR'],
  [0x57, 'APPAUTH'],
  [0x58, 'CLIENTIDENTITY'],
  [0x59, 'RESOURCE'],
] as const;
const PAGE0_VALUES = [
  [0x85, 'IPV4'],
  [0x86, 'IPV6'],
  [0x87, 'E164'],
  [0x88, 'ALPHA'],
  [0x89, 'APN'],
  [0x8a, 'SCODE'],
  [0x8b, 'TETRA-ITSI'],
  [0x8c, 'MAN'],
  [0x90, 'ANALOG-MODEM'],
  [0x91, 'V.120'],
  [0x92, 'V.110'],
  [0x93, 'X.31'],
  [0x94, 'BIT-TRANSPARENT'],
  [0x95, 'DIRECT-ASYNCHRONOUS-DATA-SERVICE'],
  [0x9a, 'PAP'],
  [0x9b, 'CHAP'],
  [0x9c, 'HTTP-BASIC'],
  [0x9d, 'HTTP-DIGEST'],
  [0x9e, 'WTLS-SS'],
  [0x9f, 'MD5'],
  [0xa2, 'GSM-USSD'],
  [0xa3, 'GSM-SMS'],
  [0xaa, 'GSM-CSD'],
  [0xab, 'GSM-GPRS'],
  [0xc5, 'AUTOBAUDING'],
  [0xca, 'CL-WSP'],
  [0xcb, 'CO-WSP'],
  [0xcc, 'CL-SEC-WSP'],
  [0xcd, 'CO-SEC-WSP'],
  [0xce, 'CL-SEC-WTA'],
  [0xcf, 'CO-SEC-WTA'],
  [0xd0, 'OTA-HTTP-TO'],
  [0xd1, 'OTA-HTTP-TLS-TO'],
  [0xd2, 'OTA-HTTP-PO'],
  [0xd3, 'OTA-HTTP-TLS-PO'],
  [0xe0, 'AAA'],
  [0xe1, 'HA'],
] as const;
const PAGE1_VALUES = [
  [0x86, 'IPV6'],
  [0x87, 'E164'],
  [0x88, 'ALPHA'],
  [0x8d, 'APPSRV'],
  [0x8e, 'OBEX'],
  [0x90, ','],
  [0x91, 'HTTP-'],
  [0x92, 'BASIC'],
  [0x93, 'DIGEST'],
] as const;

interface AttrPage {
  starts: Map<number, AttrStart>;
  byStart: Map<string, number>;
  values: Map<number, string>;
  byValue: Map<string, number>;
}

function buildPage(
  names: readonly (readonly [number, string])[],
  types: readonly (readonly [number, string])[],
  values: readonly (readonly [number, string])[],
  extra: readonly (readonly [number, string, string])[],
): AttrPage {
  const starts = new Map<number, AttrStart>();
  starts.set(0x05, ['name', '']);
  starts.set(0x06, ['value', '']);
  starts.set(0x50, ['type', '']);
  for (const [t, v] of names) starts.set(t, ['name', v]);
  for (const [t, v] of types) starts.set(t, ['type', v]);
  for (const [t, a, v] of extra) starts.set(t, [a, v]);
  const byStart = new Map<string, number>();
  for (const [t, [a, v]] of starts) byStart.set(`${a}=${v}`, t);
  const valueMap = new Map<number, string>(values.map(([t, v]) => [t, v]));
  const byValue = new Map<string, number>(values.map(([t, v]) => [v, t]));
  return { starts, byStart, values: valueMap, byValue };
}

const ATTR_PAGES: readonly AttrPage[] = [
  buildPage(PAGE0_NAMES, PAGE0_TYPES, PAGE0_VALUES, [
    [0x45, 'version', ''],
    [0x46, 'version', '1.0'],
  ]),
  buildPage(PAGE1_NAMES, PAGE1_TYPES, PAGE1_VALUES, []),
];

/**
 * Encodes a provisioning document as WBXML 1.3, public id 0x0B, charset UTF-8, no string table.
 * Attribute names/values use the ProvCont tokens; inside an APPLICATION characteristic the
 * attribute code page 1 is preferred (APPID, PROVIDER-ID, AAUTH*, ADDR …). Unknown names and
 * values are written inline (STR_I).
 */
export function encodeProvisioningWbxml(doc: CpDocument): Buffer {
  const w = new ByteWriter();
  w.byte(0x03); // WBXML 1.3
  w.mbUint(CP_PUBLIC_ID);
  w.mbUint(106); // UTF-8 (IANA MIBenum)
  w.mbUint(0); // string table length
  let attrPage = 0;
  const switchTo = (page: number) => {
    if (page !== attrPage) {
      w.byte(WB.SWITCH_PAGE, page);
      attrPage = page;
    }
  };
  /** Emits one attribute (name=value) preferring `preferred` page. */
  const attribute = (attr: string, value: string, preferred: number) => {
    const order = preferred === 1 ? [1, 0] : [0, 1];
    // 1) attribute start that carries the whole value
    for (const p of order) {
      const t = ATTR_PAGES[p]?.byStart.get(`${attr}=${value}`);
      if (t !== undefined && value !== '') {
        switchTo(p);
        w.byte(t);
        return;
      }
    }
    // 2) bare attribute start, then the value (a whole-value token on the current page, or inline)
    const bare = order.find((p) => ATTR_PAGES[p]?.byStart.has(`${attr}=`));
    if (bare === undefined) throw new ProvisioningError(`attribute ${attr} has no token`);
    switchTo(bare);
    w.byte(ATTR_PAGES[bare]?.byStart.get(`${attr}=`) as number);
    const valueToken = ATTR_PAGES[attrPage]?.byValue.get(value);
    if (valueToken !== undefined) w.byte(valueToken);
    else w.strI(value);
  };
  const characteristic = (c: CpCharacteristic, inApplication: boolean) => {
    const isApp = inApplication || c.type === 'APPLICATION';
    const hasContent = c.parms.length + c.characteristics.length > 0;
    w.byte((TAGS.characteristic as number) | 0x80 | (hasContent ? 0x40 : 0));
    attribute('type', c.type, isApp ? 1 : 0);
    w.byte(WB.END);
    for (const p of c.parms) {
      w.byte((TAGS.parm as number) | 0x80);
      attribute('name', p.name, isApp ? 1 : 0);
      if (p.value !== undefined) {
        // 'value' exists on both pages: stay on the current one.
        w.byte(0x06);
        const valueToken = ATTR_PAGES[attrPage]?.byValue.get(p.value);
        if (valueToken !== undefined) w.byte(valueToken);
        else w.strI(p.value);
      }
      w.byte(WB.END);
    }
    for (const sub of c.characteristics) characteristic(sub, isApp);
    if (hasContent) w.byte(WB.END);
  };
  const hasContent = doc.characteristics.length > 0;
  const hasAttrs = doc.version !== undefined;
  w.byte((TAGS['wap-provisioningdoc'] as number) | (hasAttrs ? 0x80 : 0) | (hasContent ? 0x40 : 0));
  if (hasAttrs) {
    attribute('version', doc.version as string, 0);
    w.byte(WB.END);
  }
  for (const c of doc.characteristics) characteristic(c, false);
  if (hasContent) w.byte(WB.END);
  return w.toBuffer();
}

const provisioningError = (message: string): Error => new ProvisioningError(message);

function tableString(table: Buffer, index: number): string {
  return readTableString(table, index, provisioningError);
}

interface WElement {
  tag: string;
  attrs: [string, string][];
  children: WElement[];
}

/** Decodes ProvCont WBXML (public id 0x0B or 0x24/string "-//WAPFORUM//DTD PROV 1.0//EN"). */
export function decodeProvisioningWbxml(input: Uint8Array): CpDocument {
  const r = new ByteReader(Buffer.from(input), provisioningError);
  const version = r.byte();
  if (version > 0x03) throw new ProvisioningError(`unsupported WBXML version 0x${version.toString(16)}`);
  let publicId = r.mbUint();
  let publicIdIndex: number | undefined;
  if (publicId === 0) publicIdIndex = r.mbUint();
  const charset = r.mbUint();
  if (charset !== 106 && charset !== 0) throw new ProvisioningError(`unsupported charset ${charset}`);
  const table = r.bytes(r.mbUint());
  if (publicIdIndex !== undefined) {
    publicId = tableString(table, publicIdIndex) === CP_PUBLIC_ID_TEXT ? CP_PUBLIC_ID : -1;
  }
  if (publicId !== CP_PUBLIC_ID) throw new ProvisioningError(`not a provisioning document (public id ${publicId})`);

  let attrPage = 0;
  const readValue = (): string => {
    // attribute value: sequence of STR_I / STR_T / value tokens / ENTITY / OPAQUE, until the next
    // attribute start (< 0x80, not a global token) or END
    let v = '';
    for (;;) {
      const t = r.peek();
      if (t === WB.END) return v;
      if (t === WB.SWITCH_PAGE) {
        r.byte();
        attrPage = r.byte();
        continue;
      }
      if (t === WB.STR_I) {
        r.byte();
        v += r.cstr();
      } else if (t === WB.STR_T) {
        r.byte();
        v += tableString(table, r.mbUint());
      } else if (t === WB.ENTITY) {
        r.byte();
        v += String.fromCodePoint(r.mbUint());
      } else if (t === WB.OPAQUE) {
        r.byte();
        v += r.bytes(r.mbUint()).toString('utf8');
      } else if (t >= 0x80) {
        r.byte();
        const known = ATTR_PAGES[attrPage]?.values.get(t);
        if (known === undefined)
          throw new ProvisioningError(`unknown attribute value token 0x${t.toString(16)} on page ${attrPage}`);
        v += known;
      } else {
        return v;
      }
    }
  };
  const readAttrs = (): [string, string][] => {
    const attrs: [string, string][] = [];
    for (;;) {
      const t = r.byte();
      if (t === WB.END) return attrs;
      if (t === WB.SWITCH_PAGE) {
        attrPage = r.byte();
        continue;
      }
      let name: string;
      let prefix: string;
      if (t === WB.LITERAL) {
        const literal = tableString(table, r.mbUint());
        const eq = literal.indexOf('=');
        name = eq >= 0 ? literal.slice(0, eq) : literal;
        prefix = eq >= 0 ? literal.slice(eq + 1) : '';
      } else {
        const start = ATTR_PAGES[attrPage]?.starts.get(t);
        if (!start) throw new ProvisioningError(`unknown attribute start token 0x${t.toString(16)} on page ${attrPage}`);
        [name, prefix] = start;
      }
      attrs.push([name, prefix + readValue()]);
    }
  };
  const readElement = (): WElement => {
    let t = r.byte();
    while (t === WB.SWITCH_PAGE) {
      r.byte(); // tag pages 0 and 1 share the same tag tokens
      t = r.byte();
    }
    const id = t & 0x3f;
    const tag = id === WB.LITERAL ? tableString(table, r.mbUint()) : TAG_NAMES.get(id);
    if (tag === undefined) throw new ProvisioningError(`unknown tag token 0x${t.toString(16)}`);
    const el: WElement = { tag, attrs: (t & 0x80) !== 0 ? readAttrs() : [], children: [] };
    if ((t & 0x40) !== 0) {
      for (;;) {
        const n = r.peek();
        if (n === WB.END) {
          r.byte();
          break;
        }
        if (n === WB.STR_I || n === WB.STR_T || n === WB.ENTITY || n === WB.OPAQUE) {
          readValue(); // character data has no meaning in a provisioning doc
          continue;
        }
        el.children.push(readElement());
      }
    }
    return el;
  };
  const root = readElement();
  if (root.tag !== 'wap-provisioningdoc') throw new ProvisioningError(`root is <${root.tag}>`);
  const attr = (e: WElement, n: string) => e.attrs.find(([k]) => k === n)?.[1];
  const toChar = (e: WElement): CpCharacteristic => {
    const type = attr(e, 'type');
    if (type === undefined) throw new ProvisioningError('characteristic without type');
    const c: CpCharacteristic = { type, parms: [], characteristics: [] };
    for (const k of e.children) {
      if (k.tag === 'parm') {
        const name = attr(k, 'name');
        if (name === undefined) throw new ProvisioningError('parm without name');
        const value = attr(k, 'value');
        c.parms.push(value !== undefined ? { name, value } : { name });
      } else if (k.tag === 'characteristic') {
        c.characteristics.push(toChar(k));
      }
    }
    return c;
  };
  const doc: CpDocument = { characteristics: root.children.filter((e) => e.tag === 'characteristic').map(toChar) };
  const v = attr(root, 'version');
  if (v !== undefined) doc.version = v;
  return doc;
}
