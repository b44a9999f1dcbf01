/**
 * The OMA Client Provisioning document that bootstraps a DM account (M2): the `wap-provisioningdoc`
 * model, the `w7` APPLICATION characteristic (OMA-TS-DM_Bootstrap 1.2, OMA-WAP-TS-ProvCont 1.1) and
 * the document's XML form. The WBXML form is cp-wbxml.ts, the push cp-push.ts.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** The OMA DM application id in Client Provisioning. */
const DM_APPID = 'w7';

export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
}

interface CpParm {
  name: string;
  value?: string;
}

export interface CpCharacteristic {
  type: string;
  parms: CpParm[];
  characteristics: CpCharacteristic[];
}

export interface CpDocument {
  /** `version` attribute of wap-provisioningdoc; omitted when undefined. */
  version?: string;
  characteristics: CpCharacteristic[];
}

export interface DmAccountBootstrap {
  /** DM server identifier (PROVIDER-ID; also the notification's server-identifier). */
  serverId: string;
  /** Display name of the account (NAME). */
  name?: string;
  /** DM server URL (ADDR), e.g. https://dm.example.com/dm */
  address: string;
  /** Optional NAPDEF reference (TO-NAPID), e.g. "INTERNET". */
  toNapId?: string;
  /** What the client presents to the server (AAUTHLEVEL CLIENT). */
  client: { username: string; password: string; nonce: string };
  /** What the server presents to the client, and the key of Package #0 (AAUTHLEVEL APPSRV). */
  server: { password: string; nonce: string; username?: string };
  /** AAUTHTYPE for both levels (default DIGEST, i.e. syncml:auth-md5). */
  authType?: 'DIGEST' | 'BASIC';
  /** Extra parms in the APPLICATION characteristic (e.g. Windows: INIT, DEFAULTENCODING). */
  extraParms?: CpParm[];
  /** wap-provisioningdoc version attribute (default "1.0"). */
  docVersion?: string;
}

function ch(type: string, parms: CpParm[], characteristics: CpCharacteristic[] = []): CpCharacteristic {
  return { type, parms, characteristics };
}

/** The DM account bootstrap document (M2). */
export function buildDmBootstrapDocument(a: DmAccountBootstrap): CpDocument {
  const authType = a.authType ?? 'DIGEST';
  const parms: CpParm[] = [
    { name: 'APPID', value: DM_APPID },
    { name: 'PROVIDER-ID', value: a.serverId },
    { name: 'NAME', value: a.name ?? a.serverId },
    { name: 'ADDR', value: a.address },
  ];
  if (a.toNapId !== undefined) parms.push({ name: 'TO-NAPID', value: a.toNapId });
  parms.push(...(a.extraParms ?? []));
  return {
    version: a.docVersion ?? '1.0',
    characteristics: [
      ch('APPLICATION', parms, [
        ch('APPAUTH', [
          { name: 'AAUTHLEVEL', value: 'APPSRV' },
          { name: 'AAUTHTYPE', value: authType },
          { name: 'AAUTHNAME', value: a.server.username ?? a.serverId },
          { name: 'AAUTHSECRET', value: a.server.password },
          { name: 'AAUTHDATA', value: a.server.nonce },
        ]),
        ch('APPAUTH', [
          { name: 'AAUTHLEVEL', value: 'CLIENT' },
          { name: 'AAUTHTYPE', value: authType },
          { name: 'AAUTHNAME', value: a.client.username },
          { name: 'AAUTHSECRET', value: a.client.password },
          { name: 'AAUTHDATA', value: a.client.nonce },
        ]),
      ]),
    ],
  };
}

/** Reads the DM account back out of a document (first APPLICATION with APPID w7). */
export function readDmAccount(doc: CpDocument): DmAccountBootstrap | undefined {
  const app = doc.characteristics.find(
    (c) => c.type === 'APPLICATION' && c.parms.some((p) => p.name === 'APPID' && p.value === DM_APPID),
  );
  if (!app) return undefined;
  const parm = (c: CpCharacteristic, n: string) => c.parms.find((p) => p.name === n)?.value;
  const auth = (level: string) => app.characteristics.find((c) => c.type === 'APPAUTH' && parm(c, 'AAUTHLEVEL') === level);
  const srv = auth('APPSRV');
  const cli = auth('CLIENT');
  const serverId = parm(app, 'PROVIDER-ID');
  const address = parm(app, 'ADDR');
  if (!srv || !cli || serverId === undefined || address === undefined) return undefined;
  const account: DmAccountBootstrap = {
    serverId,
    address,
    client: {
      username: parm(cli, 'AAUTHNAME') ?? '',
      password: parm(cli, 'AAUTHSECRET') ?? '',
      nonce: parm(cli, 'AAUTHDATA') ?? '',
    },
    server: {
      username: parm(srv, 'AAUTHNAME') ?? serverId,
      password: parm(srv, 'AAUTHSECRET') ?? '',
      nonce: parm(srv, 'AAUTHDATA') ?? '',
    },
  };
  const name = parm(app, 'NAME');
  if (name !== undefined) account.name = name;
  const nap = parm(app, 'TO-NAPID');
  if (nap !== undefined) account.toNapId = nap;
  const type = parm(cli, 'AAUTHTYPE');
  if (type === 'DIGEST' || type === 'BASIC') account.authType = type;
  return account;
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

function escAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function serializeProvisioningXml(doc: CpDocument, indent = '  '): string {
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const versionAttr = doc.version !== undefined ? ` version="${escAttr(doc.version)}"` : '';
  lines.push(`<wap-provisioningdoc${versionAttr}>`);
  const walk = (c: CpCharacteristic, depth: number) => {
    const pad = indent.repeat(depth);
    lines.push(`${pad}<characteristic type="${escAttr(c.type)}">`);
    for (const p of c.parms) {
      const v = p.value !== undefined ? ` value="${escAttr(p.value)}"` : '';
      lines.push(`${pad}${indent}<parm name="${escAttr(p.name)}"${v}/>`);
    }
    for (const sub of c.characteristics) walk(sub, depth + 1);
    lines.push(`${pad}</characteristic>`);
  };
  for (const c of doc.characteristics) walk(c, 1);
  lines.push('</wap-provisioningdoc>');
  return `${lines.join('\n')}\n`;
}

const xmlParser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  commentPropName: '#comment',
});

type Ordered = Record<string, unknown>;

export function parseProvisioningXml(xml: string): CpDocument {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new ProvisioningError(`not well-formed XML: ${valid.err.msg}`);
  const tree = xmlParser.parse(xml) as Ordered[];
  const rootEntry = tree.find((e) => 'wap-provisioningdoc' in e);
  if (!rootEntry) throw new ProvisioningError('root element must be <wap-provisioningdoc>');
  const attrsOf = (e: Ordered) => (e[':@'] ?? {}) as Record<string, string>;
  const readChar = (e: Ordered): CpCharacteristic => {
    const type = attrsOf(e).type;
    if (type === undefined) throw new ProvisioningError('characteristic without type');
    const c: CpCharacteristic = { type, parms: [], characteristics: [] };
    for (const k of (e.characteristic as Ordered[]) ?? []) {
      if ('parm' in k) {
        const a = attrsOf(k);
        if (a.name === undefined) throw new ProvisioningError('parm without name');
        c.parms.push(a.value !== undefined ? { name: a.name, value: a.value } : { name: a.name });
      } else if ('characteristic' in k) {
        c.characteristics.push(readChar(k));
      }
    }
    return c;
  };
  const doc: CpDocument = { characteristics: [] };
  const version = attrsOf(rootEntry).version;
  if (version !== undefined) doc.version = version;
  for (const e of (rootEntry['wap-provisioningdoc'] as Ordered[]) ?? []) {
    if ('characteristic' in e) doc.characteristics.push(readChar(e));
  }
  return doc;
}
