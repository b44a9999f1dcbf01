/**
 * Codec of SyncML DM 1.2 messages, `application/vnd.syncml.dm+xml` (OMA-TS-DM_RepPro 1.2,
 * OMA-TS-SyncML_RepPro 1.2; M1): the typed model, a tolerant parser and a deterministic serializer.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const SYNCML_DM_XML_CONTENT_TYPE = 'application/vnd.syncml.dm+xml';
export const SYNCML_DM_WBXML_CONTENT_TYPE = 'application/vnd.syncml.dm+wbxml';
export const SYNCML_NAMESPACE_1_2 = 'SYNCML:SYNCML1.2';
const METINF_NAMESPACE = 'syncml:metinf';
export const VER_DTD_1_2 = '1.2';
export const VER_PROTO_DM_1_2 = 'DM/1.2';

/** Alert codes used by OMA DM 1.2 (OMA-TS-DM_RepPro, "Alert Codes"). */
export const AlertCode = {
  DISPLAY: 1100,
  CONFIRM_OR_REJECT: 1101,
  TEXT_INPUT: 1102,
  SINGLE_CHOICE: 1103,
  MULTIPLE_CHOICE: 1104,
  SERVER_INITIATED_MGMT: 1200,
  CLIENT_INITIATED_MGMT: 1201,
  NEXT_MESSAGE: 1222,
  SESSION_ABORT: 1223,
  CLIENT_EVENT: 1224,
  NO_END_OF_DATA: 1225,
  GENERIC_ALERT: 1226,
} as const;

/** SyncML status codes used by this server (OMA-TS-SyncML_RepPro §10 / DM RepPro). */
export const StatusCode = {
  OK: 200,
  ACCEPTED_FOR_PROCESSING: 202,
  AUTHENTICATION_ACCEPTED: 212,
  CHUNKED_ITEM_ACCEPTED: 213,
  OPERATION_CANCELLED: 214,
  NOT_EXECUTED: 215,
  BAD_REQUEST: 400,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  COMMAND_NOT_ALLOWED: 405,
  OPTIONAL_FEATURE_NOT_SUPPORTED: 406,
  MISSING_CREDENTIALS: 407,
  INCOMPLETE_COMMAND: 412,
  REQUEST_ENTITY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ALREADY_EXISTS: 418,
  SIZE_MISMATCH: 424,
  PERMISSION_DENIED: 425,
  COMMAND_FAILED: 500,
  ATOMIC_FAILED: 507,
} as const;

export class SyncMLParseError extends Error {
  override readonly name = 'SyncMLParseError';
}

/** Target/Source of a header or an Item. */
interface LocRef {
  locURI: string;
  locName?: string;
}

/** MetInf fields (OMA-TS-SyncML_MetaInfo 1.2) used in DM. Unknown MetInf elements are dropped. */
interface Meta {
  format?: string;
  type?: string;
  mark?: string;
  size?: number;
  version?: string;
  /** Base64 text as sent (decode with `Buffer.from(x, 'base64')`). */
  nextNonce?: string;
  maxMsgSize?: number;
  maxObjSize?: number;
}

export interface Cred {
  meta?: Meta;
  data: string;
}

export interface Chal {
  meta: Meta;
}

export interface Item {
  target?: LocRef;
  source?: LocRef;
  meta?: Meta;
  data?: string;
  moreData?: boolean;
}

export interface SyncHdr {
  verDTD: string;
  verProto: string;
  sessionId: string;
  msgId: string;
  target: LocRef;
  source: LocRef;
  respURI?: string;
  noResp?: boolean;
  cred?: Cred;
  meta?: Meta;
}

interface CommandBase {
  cmdId: string;
  noResp?: boolean;
}

export interface AlertCommand extends CommandBase {
  cmd: 'Alert';
  /** Alert code from `<Data>`, e.g. 1201. */
  code: number;
  cred?: Cred;
  correlator?: string;
  items: Item[];
}

/** Add, Replace, Delete, Get, Exec, Copy: a command that carries Items. */
export interface ItemCommand<N extends ItemCommandName = ItemCommandName> extends CommandBase {
  cmd: N;
  cred?: Cred;
  meta?: Meta;
  /** Exec only (DM 1.2): echoed by the client in the Generic Alert reporting an async result. */
  correlator?: string;
  items: Item[];
}

type ItemCommandName = 'Add' | 'Replace' | 'Delete' | 'Get' | 'Exec' | 'Copy';
type AddCommand = ItemCommand<'Add'>;
export type ReplaceCommand = ItemCommand<'Replace'>;
type DeleteCommand = ItemCommand<'Delete'>;
export type GetCommand = ItemCommand<'Get'>;
export type ExecCommand = ItemCommand<'Exec'>;
type CopyCommand = ItemCommand<'Copy'>;

export interface StatusCommand extends CommandBase {
  cmd: 'Status';
  msgRef: string;
  /** CmdID of the referenced command; "0" for the SyncHdr. */
  cmdRef: string;
  /** The `<Cmd>` element: name of the referenced command ("SyncHdr", "Alert", …). */
  cmdName: string;
  targetRefs: string[];
  sourceRefs: string[];
  cred?: Cred;
  chal?: Chal;
  /** Status code from `<Data>`. */
  code: number;
  items: Item[];
}

export interface ResultsCommand extends CommandBase {
  cmd: 'Results';
  msgRef?: string;
  cmdRef: string;
  meta?: Meta;
  targetRefs: string[];
  sourceRefs: string[];
  items: Item[];
}

interface ContainerCommand<N extends 'Atomic' | 'Sequence' = 'Atomic' | 'Sequence'> extends CommandBase {
  cmd: N;
  meta?: Meta;
  commands: DmCommand[];
}
type AtomicCommand = ContainerCommand<'Atomic'>;
type SequenceCommand = ContainerCommand<'Sequence'>;

/** An element in SyncBody/Atomic/Sequence that is not a DM command this model knows. */
interface UnknownCommand {
  cmd: 'Unknown';
  element: string;
  cmdId?: string;
}

export type DmCommand =
  | AlertCommand
  | AddCommand
  | ReplaceCommand
  | DeleteCommand
  | GetCommand
  | ExecCommand
  | CopyCommand
  | StatusCommand
  | ResultsCommand
  | AtomicCommand
  | SequenceCommand
  | UnknownCommand;

export interface SyncMLMessage {
  /** The root's xmlns, e.g. "SYNCML:SYNCML1.2"; serialized as SYNCML:SYNCML1.2 when absent. */
  namespace?: string;
  header: SyncHdr;
  commands: DmCommand[];
  /** `<Final/>` present: last message of the package. */
  final: boolean;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/** Generic element tree, built from fast-xml-parser's ordered output or decoded from WBXML. */
export interface XNode {
  name: string;
  attrs: Record<string, string>;
  /** Children in document order; text nodes have name '#text'. */
  children: XNode[];
  /** For '#text' nodes. */
  text?: string;
}

const ITEM_COMMANDS: ReadonlySet<string> = new Set(['Add', 'Replace', 'Delete', 'Get', 'Exec', 'Copy']);

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  cdataPropName: '#cdata',
  commentPropName: '#comment',
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

function localName(name: string): string {
  const i = name.indexOf(':');
  return i >= 0 ? name.slice(i + 1) : name;
}

type OrderedEntry = Record<string, unknown>;

function toNodes(entries: unknown): XNode[] {
  if (!Array.isArray(entries)) return [];
  const out: XNode[] = [];
  for (const entry of entries as OrderedEntry[]) {
    for (const key of Object.keys(entry)) {
      if (key === ':@') continue;
      const value = entry[key];
      if (key === '#text') {
        out.push({ name: '#text', attrs: {}, children: [], text: String(value) });
      } else if (key === '#cdata') {
        const inner = toNodes(value);
        const text = inner.map((n) => n.text ?? '').join('');
        out.push({ name: '#text', attrs: {}, children: [], text });
      } else if (key === '#comment') {
        // comments carry no meaning
      } else if (key.startsWith('?') || key.startsWith('!')) {
        // processing instructions / doctype
      } else {
        const rawAttrs = (entry[':@'] ?? {}) as Record<string, unknown>;
        const attrs: Record<string, string> = {};
        for (const [k, v] of Object.entries(rawAttrs)) attrs[k] = String(v);
        out.push({ name: localName(key), attrs, children: toNodes(value) });
      }
    }
  }
  return out;
}

function elements(node: XNode): XNode[] {
  return node.children.filter((c) => c.name !== '#text');
}

function child(node: XNode, name: string): XNode | undefined {
  return node.children.find((c) => c.name === name);
}

function childrenNamed(node: XNode, name: string): XNode[] {
  return node.children.filter((c) => c.name === name);
}

function rawText(node: XNode): string {
  return node.children
    .filter((c) => c.name === '#text')
    .map((c) => c.text ?? '')
    .join('');
}

function leaf(node: XNode | undefined): string | undefined {
  if (!node) return undefined;
  return rawText(node).trim();
}

function requiredLeaf(node: XNode, name: string, where: string): string {
  const c = child(node, name);
  if (!c) throw new SyncMLParseError(`${where}: <${name}> is missing`);
  return rawText(c).trim();
}

function intOf(value: string, where: string): number {
  if (!/^[+-]?\d+$/.test(value)) throw new SyncMLParseError(`${where}: "${value}" is not an integer`);
  return Number.parseInt(value, 10);
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

/** Inner XML of a node (used for Data that holds elements). */
function innerXml(node: XNode): string {
  return node.children
    .map((c) => {
      if (c.name === '#text') return escapeText(c.text ?? '');
      const attrs = Object.entries(c.attrs)
        .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
        .join('');
      const inner = innerXml(c);
      return inner === '' ? `<${c.name}${attrs}/>` : `<${c.name}${attrs}>${inner}</${c.name}>`;
    })
    .join('');
}

function dataOf(node: XNode): string {
  return elements(node).length > 0 ? innerXml(node) : rawText(node);
}

function parseLocRef(node: XNode | undefined, where: string): LocRef | undefined {
  if (!node) return undefined;
  const locURI = leaf(child(node, 'LocURI'));
  if (locURI === undefined) throw new SyncMLParseError(`${where}: <LocURI> is missing`);
  const ref: LocRef = { locURI };
  const locName = leaf(child(node, 'LocName'));
  if (locName !== undefined) ref.locName = locName;
  return ref;
}

function optionalInt(node: XNode | undefined, where: string): number | undefined {
  const v = leaf(node);
  if (v === undefined || v === '') return undefined;
  return intOf(v, where);
}

/** Reads MetInf fields from the children of `node` (a Meta element, or an Item holding them loose). */
function readMetaFields(node: XNode, into: Meta, where: string): void {
  const str = (name: string, set: (v: string) => void) => {
    const v = leaf(child(node, name));
    if (v !== undefined) set(v);
  };
  str('Format', (v) => {
    into.format = v;
  });
  str('Type', (v) => {
    into.type = v;
  });
  str('Mark', (v) => {
    into.mark = v;
  });
  str('Version', (v) => {
    into.version = v;
  });
  str('NextNonce', (v) => {
    into.nextNonce = v;
  });
  const size = optionalInt(child(node, 'Size'), `${where} Size`);
  if (size !== undefined) into.size = size;
  const maxMsg = optionalInt(child(node, 'MaxMsgSize'), `${where} MaxMsgSize`);
  if (maxMsg !== undefined) into.maxMsgSize = maxMsg;
  const maxObj = optionalInt(child(node, 'MaxObjSize'), `${where} MaxObjSize`);
  if (maxObj !== undefined) into.maxObjSize = maxObj;
}

function parseMeta(node: XNode | undefined, where: string): Meta | undefined {
  if (!node) return undefined;
  const meta: Meta = {};
  readMetaFields(node, meta, where);
  return meta;
}

function parseCred(node: XNode | undefined, where: string): Cred | undefined {
  if (!node) return undefined;
  const cred: Cred = { data: leaf(child(node, 'Data')) ?? '' };
  const meta = parseMeta(child(node, 'Meta'), `${where} Cred`);
  if (meta) cred.meta = meta;
  return cred;
}

function parseItem(node: XNode, where: string): Item {
  const item: Item = {};
  const target = parseLocRef(child(node, 'Target'), `${where} Item/Target`);
  if (target) item.target = target;
  const source = parseLocRef(child(node, 'Source'), `${where} Item/Source`);
  if (source) item.source = source;
  const metaNode = child(node, 'Meta');
  // Tolerate MetInf elements placed directly in the Item (seen in published samples).
  const loose: Meta = {};
  readMetaFields(node, loose, `${where} Item`);
  const meta = { ...loose, ...(parseMeta(metaNode, `${where} Item/Meta`) ?? {}) };
  if (metaNode || Object.keys(meta).length > 0) item.meta = meta;
  const data = child(node, 'Data');
  if (data) item.data = dataOf(data);
  if (child(node, 'MoreData')) item.moreData = true;
  return item;
}

function parseItems(node: XNode, where: string): Item[] {
  return childrenNamed(node, 'Item').map((n, i) => parseItem(n, `${where} Item[${i}]`));
}

function parseCommand(node: XNode): DmCommand {
  const name = node.name;
  const cmdIdRaw = leaf(child(node, 'CmdID'));
  const where = `${name}${cmdIdRaw ? `#${cmdIdRaw}` : ''}`;
  const known =
    ITEM_COMMANDS.has(name) ||
    name === 'Alert' ||
    name === 'Status' ||
    name === 'Results' ||
    name === 'Atomic' ||
    name === 'Sequence';
  if (!known) {
    const unknown: UnknownCommand = { cmd: 'Unknown', element: name };
    if (cmdIdRaw !== undefined) unknown.cmdId = cmdIdRaw;
    return unknown;
  }
  if (cmdIdRaw === undefined) throw new SyncMLParseError(`${where}: <CmdID> is missing`);
  const noResp = child(node, 'NoResp') !== undefined;
  const base = (): CommandBase => (noResp ? { cmdId: cmdIdRaw, noResp } : { cmdId: cmdIdRaw });

  switch (name) {
    case 'Alert': {
      const code = intOf(requiredLeaf(node, 'Data', where), `${where} Data`);
      const cmd: AlertCommand = { cmd: 'Alert', ...base(), code, items: parseItems(node, where) };
      const cred = parseCred(child(node, 'Cred'), where);
      if (cred) cmd.cred = cred;
      const correlator = leaf(child(node, 'Correlator'));
      if (correlator !== undefined) cmd.correlator = correlator;
      return cmd;
    }
    case 'Status': {
      const cmd: StatusCommand = {
        cmd: 'Status',
        ...base(),
        msgRef: requiredLeaf(node, 'MsgRef', where),
        cmdRef: requiredLeaf(node, 'CmdRef', where),
        cmdName: requiredLeaf(node, 'Cmd', where),
        targetRefs: childrenNamed(node, 'TargetRef').map((n) => rawText(n).trim()),
        sourceRefs: childrenNamed(node, 'SourceRef').map((n) => rawText(n).trim()),
        code: intOf(requiredLeaf(node, 'Data', where), `${where} Data`),
        items: parseItems(node, where),
      };
      const cred = parseCred(child(node, 'Cred'), where);
      if (cred) cmd.cred = cred;
      const chalNode = child(node, 'Chal');
      if (chalNode) cmd.chal = { meta: parseMeta(child(chalNode, 'Meta'), `${where} Chal`) ?? {} };
      return cmd;
    }
    case 'Results': {
      const cmd: ResultsCommand = {
        cmd: 'Results',
        ...base(),
        cmdRef: requiredLeaf(node, 'CmdRef', where),
        targetRefs: childrenNamed(node, 'TargetRef').map((n) => rawText(n).trim()),
        sourceRefs: childrenNamed(node, 'SourceRef').map((n) => rawText(n).trim()),
        items: parseItems(node, where),
      };
      const msgRef = leaf(child(node, 'MsgRef'));
      if (msgRef !== undefined) cmd.msgRef = msgRef;
      const meta = parseMeta(child(node, 'Meta'), where);
      if (meta) cmd.meta = meta;
      return cmd;
    }
    case 'Atomic':
    case 'Sequence': {
      const cmd: ContainerCommand = {
        cmd: name,
        ...base(),
        commands: parseCommandList(node),
      };
      const meta = parseMeta(child(node, 'Meta'), where);
      if (meta) cmd.meta = meta;
      return cmd as DmCommand;
    }
    default: {
      const cmd: ItemCommand = { cmd: name as ItemCommandName, ...base(), items: parseItems(node, where) };
      const cred = parseCred(child(node, 'Cred'), where);
      if (cred) cmd.cred = cred;
      const meta = parseMeta(child(node, 'Meta'), where);
      if (meta) cmd.meta = meta;
      const correlator = leaf(child(node, 'Correlator'));
      if (correlator !== undefined) cmd.correlator = correlator;
      return cmd as DmCommand;
    }
  }
}

const CONTAINER_SKIP = new Set(['CmdID', 'NoResp', 'Meta', 'Final']);

function parseCommandList(container: XNode): DmCommand[] {
  return elements(container)
    .filter((n) => !CONTAINER_SKIP.has(n.name))
    .map(parseCommand);
}

function parseHeader(node: XNode): SyncHdr {
  const where = 'SyncHdr';
  const target = parseLocRef(child(node, 'Target'), `${where}/Target`);
  const source = parseLocRef(child(node, 'Source'), `${where}/Source`);
  if (!target) throw new SyncMLParseError(`${where}: <Target> is missing`);
  if (!source) throw new SyncMLParseError(`${where}: <Source> is missing`);
  const hdr: SyncHdr = {
    verDTD: requiredLeaf(node, 'VerDTD', where),
    verProto: requiredLeaf(node, 'VerProto', where),
    sessionId: requiredLeaf(node, 'SessionID', where),
    msgId: requiredLeaf(node, 'MsgID', where),
    target,
    source,
  };
  const respURI = leaf(child(node, 'RespURI'));
  if (respURI !== undefined) hdr.respURI = respURI;
  if (child(node, 'NoResp')) hdr.noResp = true;
  const cred = parseCred(child(node, 'Cred'), where);
  if (cred) hdr.cred = cred;
  const meta = parseMeta(child(node, 'Meta'), where);
  if (meta) hdr.meta = meta;
  return hdr;
}

/**
 * Parses a SyncML DM message (XML). Throws SyncMLParseError on malformed or non-SyncML input.
 * Tolerant: element names are matched without namespace prefixes (`<mi:MaxMsgSize>` and
 * `<MaxMsgSize xmlns="syncml:metinf">` are the same thing), comments and stray text between commands
 * (e.g. `...` in published samples) are ignored, and leaf values of structural elements (IDs, LocURI,
 * Meta fields) are trimmed. `Data` is kept as written (entities decoded); when it holds XML elements
 * (e.g. a DDF/TNDS tree) its inner XML is returned as a string.
 */
export function parseSyncML(input: string | Uint8Array): SyncMLMessage {
  let xml = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  if (xml.charCodeAt(0) === 0xfeff) xml = xml.slice(1);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new SyncMLParseError(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  }
  let tree: XNode[];
  try {
    tree = toNodes(parser.parse(xml));
  } catch (e) {
    throw new SyncMLParseError(`XML parse failed: ${(e as Error).message}`);
  }
  const roots = tree.filter((n) => n.name !== '#text');
  const root = roots[0];
  if (!root || roots.length !== 1) throw new SyncMLParseError('root element must be <SyncML>');
  return messageFromTree(root);
}

/** Reads the model from a `<SyncML>` element tree (the XML and the WBXML codec share this). */
export function messageFromTree(root: XNode): SyncMLMessage {
  if (root.name !== 'SyncML') throw new SyncMLParseError('root element must be <SyncML>');
  const hdrNode = child(root, 'SyncHdr');
  const bodyNode = child(root, 'SyncBody');
  if (!hdrNode) throw new SyncMLParseError('<SyncHdr> is missing');
  if (!bodyNode) throw new SyncMLParseError('<SyncBody> is missing');
  const msg: SyncMLMessage = {
    header: parseHeader(hdrNode),
    commands: parseCommandList(bodyNode),
    final: child(bodyNode, 'Final') !== undefined,
  };
  const ns = root.attrs.xmlns;
  if (ns !== undefined) msg.namespace = ns.trim();
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------------------------

/** Element tree written by the serializers (XML here, WBXML in syncml-wbxml.ts). */
export interface W {
  name: string;
  attrs?: Record<string, string>;
  text?: string;
  children?: W[];
}

function el(name: string, content?: string | W[], attrs?: Record<string, string>): W {
  const w: W = { name };
  if (attrs) w.attrs = attrs;
  if (typeof content === 'string') w.text = content;
  else if (content) w.children = content;
  return w;
}

function render(w: W, indent: string | undefined, depth: number): string {
  const pad = indent === undefined ? '' : indent.repeat(depth);
  const attrs = Object.entries(w.attrs ?? {})
    .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
    .join('');
  if (w.children && w.children.length > 0) {
    const nl = indent === undefined ? '' : '\n';
    const inner = w.children.map((c) => render(c, indent, depth + 1)).join(nl);
    return `${pad}<${w.name}${attrs}>${nl}${inner}${nl}${pad}</${w.name}>`;
  }
  if (w.text !== undefined && w.text !== '') return `${pad}<${w.name}${attrs}>${escapeText(w.text)}</${w.name}>`;
  return `${pad}<${w.name}${attrs}/>`;
}

const METINF = { xmlns: METINF_NAMESPACE };

function metaW(meta: Meta | undefined): W | undefined {
  if (!meta) return undefined;
  const c: W[] = [];
  if (meta.format !== undefined) c.push(el('Format', meta.format, METINF));
  if (meta.type !== undefined) c.push(el('Type', meta.type, METINF));
  if (meta.mark !== undefined) c.push(el('Mark', meta.mark, METINF));
  if (meta.size !== undefined) c.push(el('Size', String(meta.size), METINF));
  if (meta.version !== undefined) c.push(el('Version', meta.version, METINF));
  if (meta.nextNonce !== undefined) c.push(el('NextNonce', meta.nextNonce, METINF));
  if (meta.maxMsgSize !== undefined) c.push(el('MaxMsgSize', String(meta.maxMsgSize), METINF));
  if (meta.maxObjSize !== undefined) c.push(el('MaxObjSize', String(meta.maxObjSize), METINF));
  return el('Meta', c);
}

function locW(name: string, ref: LocRef | undefined): W | undefined {
  if (!ref) return undefined;
  const c = [el('LocURI', ref.locURI)];
  if (ref.locName !== undefined) c.push(el('LocName', ref.locName));
  return el(name, c);
}

function credW(cred: Cred | undefined): W | undefined {
  if (!cred) return undefined;
  return el('Cred', compact([metaW(cred.meta), el('Data', cred.data)]));
}

function itemW(item: Item): W {
  return el(
    'Item',
    compact([
      locW('Target', item.target),
      locW('Source', item.source),
      metaW(item.meta),
      item.data !== undefined ? el('Data', item.data) : undefined,
      item.moreData ? el('MoreData') : undefined,
    ]),
  );
}

function compact(ws: (W | undefined)[]): W[] {
  return ws.filter((w): w is W => w !== undefined);
}

function commandW(c: DmCommand): W {
  const head = (cmd: { cmdId: string; noResp?: boolean }) =>
    compact([el('CmdID', cmd.cmdId), cmd.noResp ? el('NoResp') : undefined]);
  switch (c.cmd) {
    case 'Alert':
      return el('Alert', [
        ...head(c),
        ...compact([credW(c.cred), el('Data', String(c.code))]),
        ...(c.correlator !== undefined ? [el('Correlator', c.correlator)] : []),
        ...c.items.map(itemW),
      ]);
    case 'Status':
      return el('Status', [
        ...head(c),
        el('MsgRef', c.msgRef),
        el('CmdRef', c.cmdRef),
        el('Cmd', c.cmdName),
        ...c.targetRefs.map((r) => el('TargetRef', r)),
        ...c.sourceRefs.map((r) => el('SourceRef', r)),
        ...compact([credW(c.cred), c.chal ? el('Chal', compact([metaW(c.chal.meta)])) : undefined]),
        el('Data', String(c.code)),
        ...c.items.map(itemW),
      ]);
    case 'Results':
      return el('Results', [
        ...head(c),
        ...compact([c.msgRef !== undefined ? el('MsgRef', c.msgRef) : undefined, el('CmdRef', c.cmdRef), metaW(c.meta)]),
        ...c.targetRefs.map((r) => el('TargetRef', r)),
        ...c.sourceRefs.map((r) => el('SourceRef', r)),
        ...c.items.map(itemW),
      ]);
    case 'Atomic':
    case 'Sequence':
      return el(c.cmd, [...head(c), ...compact([metaW(c.meta)]), ...c.commands.map(commandW)]);
    case 'Unknown':
      return el(c.element, c.cmdId !== undefined ? [el('CmdID', c.cmdId)] : undefined);
    default:
      return el(c.cmd, [
        ...head(c),
        ...compact([credW(c.cred), metaW(c.meta)]),
        ...(c.correlator !== undefined ? [el('Correlator', c.correlator)] : []),
        ...c.items.map(itemW),
      ]);
  }
}

function headerW(h: SyncHdr): W {
  return el(
    'SyncHdr',
    compact([
      el('VerDTD', h.verDTD),
      el('VerProto', h.verProto),
      el('SessionID', h.sessionId),
      el('MsgID', h.msgId),
      locW('Target', h.target),
      locW('Source', h.source),
      h.respURI !== undefined ? el('RespURI', h.respURI) : undefined,
      h.noResp ? el('NoResp') : undefined,
      credW(h.cred),
      metaW(h.meta),
    ]),
  );
}

/** The `<SyncML>` element tree of a message, elements in DTD order. */
export function messageToTree(msg: SyncMLMessage): W {
  return el(
    'SyncML',
    [headerW(msg.header), el('SyncBody', [...msg.commands.map(commandW), ...(msg.final ? [el('Final')] : [])])],
    { xmlns: msg.namespace ?? SYNCML_NAMESPACE_1_2 },
  );
}

export interface SerializeOptions {
  /** Emit `<?xml version="1.0" encoding="UTF-8"?>` (default true). */
  declaration?: boolean;
  /** Indent with this string (e.g. "  "); compact when omitted. */
  indent?: string;
}

/** Serializes a message to `application/vnd.syncml.dm+xml` (UTF-8 text). */
export function serializeSyncML(msg: SyncMLMessage, options: SerializeOptions = {}): string {
  const body = render(messageToTree(msg), options.indent, 0);
  const decl =
    options.declaration === false ? '' : `<?xml version="1.0" encoding="UTF-8"?>${options.indent === undefined ? '' : '\n'}`;
  return decl + body;
}

/** Strips the optional "Reversed-Domain-Name:" prefix some clients put in a Generic Alert Type. */
export function normalizeAlertType(type: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  return type.replace(/^\s*Reversed-Domain-Name\s*:\s*/i, '').trim();
}
