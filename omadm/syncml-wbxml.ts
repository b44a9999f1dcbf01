/**
 * WBXML codec of SyncML DM 1.2 messages, `application/vnd.syncml.dm+wbxml` (OMA-TS-SyncML_RepPro 1.2
 * "WBXML Definition", OMA-TS-DM_RepPro 1.2 §2.2): the same model as the XML codec (syncml.ts), written
 * through the same element tree. Code page 0 holds the SyncML tags, code page 1 the MetInf tags;
 * public id "-//SYNCML//DTD SyncML 1.2//EN" (as a string-table reference, or the registered 0x1201);
 * charset UTF-8. Strings that repeat go to the string table; `Data` travels as opaque data (its text
 * in UTF-8) and `NextNonce` as the opaque binary nonce (base64 in the model, as in XML).
 */
import {
  messageFromTree,
  messageToTree,
  SYNCML_NAMESPACE_1_2,
  type SyncMLMessage,
  SyncMLParseError,
  type W,
  type XNode,
} from './syncml';
import { ByteReader, ByteWriter, CHARSET_UTF8, TAG_ATTRS, TAG_CONTENT, tableString, WB } from './wbxml';

const SYNCML_1_2_PUBLIC_ID_TEXT = '-//SYNCML//DTD SyncML 1.2//EN';
/** The registered WBXML public id of SyncML 1.2 (the OMNA list; what libwbxml writes). */
const SYNCML_1_2_PUBLIC_ID = 0x1201;
/** WBXML 1.2, the version DM clients write (DM RepPro: any 1.x must be accepted). */
const WBXML_VERSION = 0x02;

/** Code page 0: SyncML (0x30 is reserved). */
const SYNCML_TAGS = [
  'Add',
  'Alert',
  'Archive',
  'Atomic',
  'Chal',
  'Cmd',
  'CmdID',
  'CmdRef',
  'Copy',
  'Cred',
  'Data',
  'Delete',
  'Exec',
  'Final',
  'Get',
  'Item',
  'Lang',
  'LocName',
  'LocURI',
  'Map',
  'MapItem',
  'Meta',
  'MsgID',
  'MsgRef',
  'NoResp',
  'NoResults',
  'Put',
  'Replace',
  'RespURI',
  'Results',
  'Search',
  'Sequence',
  'SessionID',
  'SftDel',
  'Source',
  'SourceRef',
  'Status',
  'Sync',
  'SyncBody',
  'SyncHdr',
  'SyncML',
  'Target',
  'TargetRef',
  '',
  'VerDTD',
  'VerProto',
  'NumberOfChanges',
  'MoreData',
  'Field',
  'Filter',
  'Record',
  'FilterType',
  'SourceParent',
  'TargetParent',
  'Move',
  'Correlator',
] as const;

/** Code page 1: MetInf. */
const METINF_TAGS = [
  'Anchor',
  'EMI',
  'Format',
  'FreeID',
  'FreeMem',
  'Last',
  'Mark',
  'MaxMsgSize',
  'Mem',
  'MetInf',
  'Next',
  'NextNonce',
  'SharedMem',
  'Size',
  'Type',
  'Version',
  'MaxObjSize',
  'FieldLevel',
] as const;

const PAGES: readonly (readonly string[])[] = [SYNCML_TAGS, METINF_TAGS];
/** Element name → [page, token]; the MetInf names are only MetInf inside Meta/Chal (none clash). */
const TOKENS = new Map<string, readonly [number, number]>();
PAGES.forEach((names, page) => {
  names.forEach((name, i) => {
    if (name !== '') TOKENS.set(name, [page, 0x05 + i]);
  });
});

const parseError = (message: string): Error => new SyncMLParseError(`WBXML: ${message}`);

/** `Buffer.from(s, 'base64')` when `s` is canonical base64 (so the text comes back unchanged). */
function canonicalBase64(s: string): Buffer | undefined {
  if (s === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

function collectTexts(w: W, counts: Map<string, number>): void {
  if (w.text !== undefined && w.name !== 'Data' && w.name !== 'NextNonce') {
    counts.set(w.text, (counts.get(w.text) ?? 0) + 1);
  }
  for (const c of w.children ?? []) collectTexts(c, counts);
}

export interface WbxmlEncodeOptions {
  /** Write repeated strings once, in the string table (default true). */
  stringTable?: boolean;
  /** Public id as the registered number 0x1201 instead of the string-table text (default false). */
  numericPublicId?: boolean;
}

/** Encodes a message as `application/vnd.syncml.dm+wbxml`. */
export function encodeSyncMLWbxml(msg: SyncMLMessage, options: WbxmlEncodeOptions = {}): Buffer {
  const tree = messageToTree(msg);
  // String table: the public id (when written as text), then strings used twice or more that are
  // long enough for a reference (STR_T + index) to be shorter than the inline string.
  const table: Buffer[] = [];
  let tableLength = 0;
  const tableIndex = new Map<string, number>();
  const addToTable = (s: string) => {
    tableIndex.set(s, tableLength);
    const b = Buffer.from(`${s}\0`, 'utf8');
    table.push(b);
    tableLength += b.length;
  };
  if (!options.numericPublicId) addToTable(SYNCML_1_2_PUBLIC_ID_TEXT);
  if (options.stringTable !== false) {
    const counts = new Map<string, number>();
    collectTexts(tree, counts);
    for (const [s, n] of counts) if (n >= 2 && Buffer.byteLength(s) >= 4 && !s.includes('\0')) addToTable(s);
  }

  const w = new ByteWriter();
  w.byte(WBXML_VERSION);
  if (options.numericPublicId) w.mbUint(SYNCML_1_2_PUBLIC_ID);
  else w.byte(0x00, 0x00); // public id in the string table, at index 0
  w.mbUint(CHARSET_UTF8);
  w.mbUint(tableLength);
  for (const b of table) w.bytes(b);

  let page = 0;
  const element = (e: W) => {
    const token = TOKENS.get(e.name);
    if (token === undefined) throw new SyncMLParseError(`WBXML: no token for <${e.name}>`);
    if (token[0] !== page) {
      w.byte(WB.SWITCH_PAGE, token[0]);
      page = token[0];
    }
    const hasText = e.text !== undefined && e.text !== '';
    const hasChildren = (e.children?.length ?? 0) > 0;
    w.byte(token[1] | (hasText || hasChildren ? TAG_CONTENT : 0));
    if (!hasText && !hasChildren) return;
    if (hasText) text(e.name, e.text as string);
    for (const c of e.children ?? []) element(c);
    w.byte(WB.END);
  };
  const text = (name: string, s: string) => {
    const nonce = name === 'NextNonce' ? canonicalBase64(s) : undefined;
    const indexed = tableIndex.get(s);
    if (nonce) w.opaque(nonce);
    else if (name === 'Data' || s.includes('\0')) w.opaque(Buffer.from(s, 'utf8'));
    else if (indexed !== undefined && name !== 'NextNonce') {
      w.byte(WB.STR_T);
      w.mbUint(indexed);
    } else w.strI(s);
  };
  element(tree);
  return w.toBuffer();
}

/**
 * Decodes `application/vnd.syncml.dm+wbxml` (WBXML 1.0–1.3) into the model. Accepts the SyncML 1.2
 * public id as 0x1201, as the string "-//SYNCML//DTD SyncML 1.2//EN", or unknown (0x01); UTF-8 (or
 * unspecified) charset; inline, table and opaque strings (opaque `NextNonce` is a binary nonce and
 * becomes base64, other opaque text is UTF-8); literal tags by name; attributes and PIs are skipped.
 */
export function decodeSyncMLWbxml(input: Uint8Array): SyncMLMessage {
  const r = new ByteReader(Buffer.from(input), parseError);
  const version = r.byte();
  if (version > 0x03) throw parseError(`unsupported WBXML version 0x${version.toString(16)}`);
  const publicId = r.mbUint();
  const publicIdIndex = publicId === 0 ? r.mbUint() : undefined;
  const charset = r.mbUint();
  if (charset !== CHARSET_UTF8 && charset !== 0) throw parseError(`unsupported charset ${charset} (UTF-8 only)`);
  const table = r.bytes(r.mbUint());
  const fromTable = (i: number) => tableString(table, i, parseError);
  if (publicIdIndex !== undefined) {
    const text = fromTable(publicIdIndex);
    if (text !== SYNCML_1_2_PUBLIC_ID_TEXT) throw parseError(`not SyncML 1.2 (public id "${text}")`);
  } else if (publicId !== SYNCML_1_2_PUBLIC_ID && publicId !== 0x01) {
    throw parseError(`not SyncML 1.2 (public id 0x${publicId.toString(16)})`);
  }

  let page = 0;
  const skipAttributes = () => {
    for (;;) {
      const t = r.byte();
      if (t === WB.END) return;
      if (t === WB.SWITCH_PAGE) r.byte();
      else if (t === WB.STR_I) r.cstr();
      else if (t === WB.STR_T || t === WB.LITERAL || t === WB.ENTITY) r.mbUint();
      else if (t === WB.OPAQUE) r.bytes(r.mbUint());
    }
  };
  /** A processing instruction: an attribute start and value, then END. */
  const skipPi = skipAttributes;
  const readElement = (t: number): XNode => {
    const id = t & 0x3f;
    let name: string | undefined;
    if (id === WB.LITERAL) name = fromTable(r.mbUint());
    else name = PAGES[page]?.[id - 0x05];
    if (name === undefined || name === '') throw parseError(`unknown tag 0x${t.toString(16)} on code page ${page}`);
    const node: XNode = { name, attrs: {}, children: [] };
    if ((t & TAG_ATTRS) !== 0) skipAttributes();
    if ((t & TAG_CONTENT) === 0) return node;
    let text: string | undefined;
    const addText = (s: string) => {
      text = (text ?? '') + s;
    };
    const flushText = () => {
      if (text !== undefined) node.children.push({ name: '#text', attrs: {}, children: [], text });
      text = undefined;
    };
    for (;;) {
      const n = r.byte();
      if (n === WB.END) break;
      if (n === WB.SWITCH_PAGE) {
        page = r.byte();
        if (PAGES[page] === undefined) throw parseError(`unknown code page ${page}`);
      } else if (n === WB.STR_I) addText(r.cstr());
      else if (n === WB.STR_T) addText(fromTable(r.mbUint()));
      else if (n === WB.ENTITY) addText(String.fromCodePoint(r.mbUint()));
      else if (n === WB.OPAQUE) {
        const b = r.bytes(r.mbUint());
        addText(name === 'NextNonce' ? b.toString('base64') : b.toString('utf8'));
      } else if (n === WB.PI) skipPi();
      else if ((n & 0x3f) >= WB.LITERAL) {
        flushText();
        node.children.push(readElement(n));
      } else throw parseError(`unexpected token 0x${n.toString(16)}`);
    }
    flushText();
    return node;
  };
  let first = r.byte();
  while (first === WB.SWITCH_PAGE || first === WB.PI) {
    if (first === WB.SWITCH_PAGE) page = r.byte();
    else skipPi();
    first = r.byte();
  }
  const root = readElement(first);
  const msg = messageFromTree(root);
  msg.namespace = SYNCML_NAMESPACE_1_2;
  return msg;
}
