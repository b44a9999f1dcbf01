/**
 * A throwaway Kannel gateway for the channel integration tests (Kannel 1.4.5, Debian packages
 * `kannel` + `kannel-extras`; scripts/install-kannel.sh installs them).
 *
 *   bearerbox ── smsc "http" (system-type kannel) ──► TestSmsc: an HTTP receiver in this process
 *     ▲  ▲                                             (every SMS: to, from, coding, UDH, raw bytes,
 *     │  └── smsbox  (sendsms on 127.0.0.1:<port>, user/password, concatenation = true)
 *     └───── wapbox  (PPG: PAP on /wappush, wap-push-user with password, allowed from 127.0.0.1 only)
 *
 * Everything lives in a temp dir with free ports; processes are started and stopped by pid. Without
 * Kannel installed `startKannel` throws — the tests fail loudly, they are never skipped.
 *
 * Also here: decoders for what arrives at the SMSC — UDH (ports, concatenation), the WSP push PDU and
 * WBXML Service Indications (SI 1.0 token tables) — written independently of infra/channels.
 */
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, type ManagedProcess, portOpen, startProcess, waitFor } from '../../devstack/child-process';
import type { KannelChannelConfig } from '../../infra/channels/kannel';

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin', '/opt/kannel/sbin'];

/** Paths of bearerbox, smsbox and wapbox; throws a loud error when Kannel is not installed. */
function kannelBinaries(): { bearerbox: string; smsbox: string; wapbox: string } {
  // KANNEL_BIN_DIR: look only there (e.g. a self-built Kannel); otherwise PATH and the usual sbin dirs
  const dirs = process.env.KANNEL_BIN_DIR
    ? [process.env.KANNEL_BIN_DIR]
    : [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_DIRS];
  const find = (name: string) => dirs.map((d) => path.join(d, name)).find((p) => existsSync(p));
  const bearerbox = find('bearerbox');
  const smsbox = find('smsbox');
  const wapbox = find('wapbox');
  if (!bearerbox || !smsbox || !wapbox)
    throw new Error(
      'KANNEL IS NOT INSTALLED: the channel integration tests need bearerbox, smsbox and wapbox ' +
        `(missing: ${[!bearerbox && 'bearerbox', !smsbox && 'smsbox', !wapbox && 'wapbox'].filter(Boolean).join(', ')}). ` +
        'Install them with `sudo scripts/install-kannel.sh` (Debian/Ubuntu packages kannel + kannel-extras), ' +
        'or point KANNEL_BIN_DIR at the directory that holds them.',
    );
  return { bearerbox, smsbox, wapbox };
}

// ---------------------------------------------------------------------------------------------
// The test SMSC

/** One SMS as bearerbox handed it to the SMSC (one part of a concatenated message). */
interface ReceivedSms {
  to: string;
  from: string;
  /** DCS coding: 0 GSM 7-bit (as UTF-8 text), 1 8-bit binary, 2 UCS-2; undefined if not given. */
  coding?: number;
  /** Charset bearerbox announced for `data` (UTF-8 for 7-bit, UTF-16BE for UCS-2). */
  charset?: string;
  udh?: Buffer;
  data: Buffer;
  /** bearerbox's own DLR callback (smsc dlr-url + dlr-mid), if the message asked for reports. */
  dlrUrl?: string;
  dlrMask?: number;
  receivedAt: Date;
  /** The raw query string bearerbox sent. */
  rawQuery: string;
}

/** A whole message: concatenated parts joined, text decoded. */
export interface AssembledSms {
  to: string;
  from: string;
  coding?: number;
  /** Application ports of the UDH (WAP push: dst 2948, src 9200). */
  ports?: { dst: number; src: number };
  /** Number of SMS it took. */
  parts: number;
  /** Concatenation reference, if it was split. */
  ref?: number;
  data: Buffer;
  /** `data` decoded: UTF-8 (7-bit), UTF-16BE (UCS-2); binary as latin1. */
  text: string;
  /** The parts as received, in order. */
  sms: ReceivedSms[];
}

type SmscBehaviour = 'accept' | 'fail';

class TestSmsc {
  readonly received: ReceivedSms[] = [];
  behaviour: SmscBehaviour = 'accept';
  private server?: http.Server;
  private waiters = new Set<() => void>();
  port = 0;
  /** bearerbox's receive port of the http smsc and its credentials (to send DLRs back). */
  bearerboxPort = 0;
  readonly username = 'smscuser';
  readonly password = 'smscpass';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  clear(): void {
    this.received.length = 0;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    const p = parseRawQuery(rawQuery);
    const str = (k: string) => p.get(k)?.toString('utf8');
    if (str('username') !== this.username || str('password') !== this.password) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end('Authorization failed');
      return;
    }
    if (this.behaviour === 'fail') {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('SMSC failure');
      return;
    }
    const coding = str('coding');
    const mask = str('dlr-mask');
    this.received.push({
      to: str('to') ?? '',
      from: str('from') ?? '',
      coding: coding === undefined ? undefined : Number(coding),
      charset: str('charset'),
      udh: p.get('udh'),
      data: p.get('text') ?? Buffer.alloc(0),
      dlrUrl: str('dlr-url'),
      dlrMask: mask === undefined ? undefined : Number(mask),
      receivedAt: new Date(),
      rawQuery,
    });
    res.writeHead(202, { 'Content-Type': 'text/plain' }).end('Sent.');
    for (const w of this.waiters) w();
  }

  /** Complete messages received so far (parts of unfinished concatenations are left out). */
  assembled(filter: (m: AssembledSms) => boolean = () => true): AssembledSms[] {
    return assemble(this.received).filter(filter);
  }

  /** Waits until `count` complete messages match `filter`; returns them. */
  async waitForMessages(
    count: number,
    filter: (m: AssembledSms) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<AssembledSms[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.assembled(filter);
      if (got.length >= count) return got;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `test SMSC: expected ${count} message(s), got ${got.length} matching of ${this.received.length} SMS received: ` +
            JSON.stringify(
              this.received.map((r) => ({ to: r.to, coding: r.coding, udh: r.udh?.toString('hex'), bytes: r.data.length })),
            ),
        );
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 250));
        this.waiters.add(done);
      });
    }
  }

  /**
   * Acts like an SMSC sending a delivery report for `sms`: calls bearerbox's http-smsc receive port
   * with the message id bearerbox put in its dlr-url. `type`: 1 delivered, 2 failed, 4 buffered.
   */
  async deliverReport(sms: ReceivedSms, type: 1 | 2 | 4 = 1): Promise<string> {
    const mid = /dlr-mid=([0-9a-f-]{36})/i.exec(sms.dlrUrl ?? '')?.[1];
    if (!mid) throw new Error(`SMS to ${sms.to} carries no dlr-mid (was a dlr-mask set?): ${sms.dlrUrl}`);
    const q = new URLSearchParams({
      username: this.username,
      password: this.password,
      'dlr-mask': String(type),
      'dlr-mid': mid,
      to: sms.to,
      from: sms.from,
      text: type === 1 ? 'stat:DELIVRD' : type === 2 ? 'stat:UNDELIV' : 'stat:ENROUTE',
    });
    const res = await fetch(`http://127.0.0.1:${this.bearerboxPort}/?${q}`);
    const body = await res.text();
    if (res.status >= 300 || body.trim() !== 'Sent.') throw new Error(`bearerbox refused the DLR: ${res.status} ${body}`);
    return body;
  }
}

/** Query string → raw bytes per key (`+` is a space, `%XX` a byte): binary SMS survive intact. */
function parseRawQuery(raw: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const pair of raw.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = percentDecode(eq >= 0 ? pair.slice(0, eq) : pair).toString('utf8');
    if (!out.has(k)) out.set(k, percentDecode(eq >= 0 ? pair.slice(eq + 1) : ''));
  }
  return out;
}

function percentDecode(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '+') bytes.push(0x20);
    else if (c === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(c ?? '', 'utf8'));
  }
  return Buffer.from(bytes);
}

// ---------------------------------------------------------------------------------------------
// UDH, concatenation

export interface UdhInfo {
  ports?: { dst: number; src: number };
  concat?: { ref: number; total: number; seq: number };
  elements: Array<{ iei: number; data: Buffer }>;
}

export function parseUdh(udh: Buffer | undefined): UdhInfo {
  const info: UdhInfo = { elements: [] };
  if (!udh || udh.length === 0) return info;
  const len = udh[0] ?? 0;
  let i = 1;
  while (i < 1 + len && i + 1 < udh.length) {
    const iei = udh[i] ?? 0;
    const l = udh[i + 1] ?? 0;
    const d = udh.subarray(i + 2, i + 2 + l);
    info.elements.push({ iei, data: d });
    if (iei === 0x00 && l === 3) info.concat = { ref: d[0] ?? 0, total: d[1] ?? 0, seq: d[2] ?? 0 };
    if (iei === 0x08 && l === 4) info.concat = { ref: d.readUInt16BE(0), total: d[2] ?? 0, seq: d[3] ?? 0 };
    if (iei === 0x05 && l === 4) info.ports = { dst: d.readUInt16BE(0), src: d.readUInt16BE(2) };
    if (iei === 0x04 && l === 2) info.ports = { dst: d[0] ?? 0, src: d[1] ?? 0 };
    i += 2 + l;
  }
  return info;
}

/** Joins concatenated parts (by receiver + reference) and decodes the text of each message. */
function assemble(received: ReceivedSms[]): AssembledSms[] {
  const out: AssembledSms[] = [];
  const groups = new Map<string, { first: number; parts: Map<number, ReceivedSms>; total: number; ref: number }>();
  received.forEach((sms, index) => {
    const udh = parseUdh(sms.udh);
    if (!udh.concat) {
      out.push({ ...whole([sms], udh), _order: index } as AssembledSms & { _order: number });
      return;
    }
    const key = `${sms.to}|${sms.from}|${udh.concat.ref}|${udh.concat.total}`;
    let g = groups.get(key);
    if (!g || g.parts.has(udh.concat.seq)) {
      // a reused reference after a complete message starts a new group
      if (g && g.parts.size === g.total) groups.delete(key);
      g = { first: index, parts: new Map(), total: udh.concat.total, ref: udh.concat.ref };
      groups.set(`${key}|${index}`, g);
      groups.set(key, g);
    }
    g.parts.set(udh.concat.seq, sms);
  });
  const seen = new Set<object>();
  for (const g of groups.values()) {
    if (seen.has(g)) continue;
    seen.add(g);
    if (g.parts.size !== g.total) continue;
    const parts = [...g.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
    const first = parts[0];
    if (!first) continue;
    out.push({ ...whole(parts, parseUdh(first.udh)), ref: g.ref, _order: g.first } as AssembledSms & { _order: number });
  }
  return (out as Array<AssembledSms & { _order: number }>).sort((a, b) => a._order - b._order).map(({ _order, ...m }) => m);
}

function whole(parts: ReceivedSms[], udh: UdhInfo): AssembledSms {
  const first = parts[0] as ReceivedSms;
  const data = Buffer.concat(parts.map((p) => p.data));
  return {
    to: first.to,
    from: first.from,
    coding: first.coding,
    ports: udh.ports,
    parts: parts.length,
    data,
    text: decodeText(data, first.coding, first.charset),
    sms: parts,
  };
}

function decodeText(data: Buffer, coding: number | undefined, charset: string | undefined): string {
  if (coding === 1) return data.toString('latin1');
  if (coding === 2 || /utf-?16/i.test(charset ?? '')) {
    const swapped = Buffer.from(data);
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  return data.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// WSP push PDU

const WSP_CONTENT_TYPES: Record<number, string> = {
  3: 'text/plain',
  45: 'text/vnd.wap.si',
  46: 'application/vnd.wap.sic',
  47: 'text/vnd.wap.sl',
  48: 'application/vnd.wap.slc',
  53: 'text/vnd.wap.connectivity-xml',
  54: 'application/vnd.wap.connectivity-wbxml',
  66: 'application/vnd.syncml.dm+wbxml',
  67: 'application/vnd.syncml.dm+xml',
  68: 'application/vnd.syncml.notification',
  78: 'application/vnd.syncml.ds.notification',
};
const WSP_APP_IDS: Record<number, string> = {
  0: 'x-wap-application:*',
  1: 'x-wap-application:push.sia',
  2: 'x-wap-application:wml.ua',
  4: 'x-wap-application:mms.ua',
  5: 'x-wap-application:push.syncml',
  7: 'x-wap-application:syncml.dm',
};

export interface WapPushPdu {
  tid: number;
  pduType: number;
  contentType: string;
  /** Content-Type parameters: SEC (number), MAC, charset (MIBenum) or untyped name → value. */
  params: Record<string, string | number>;
  applicationId?: string;
  /** Other headers: well-known ones as `0xNN`, textual ones by name (values raw). */
  headers: Array<{ name: string; value: Buffer }>;
  body: Buffer;
}

/** Decodes a connectionless WSP Push PDU (WAP-230 §8.2.4.1). */
function decodeWspPush(pdu: Buffer): WapPushPdu {
  const r = new Reader(pdu);
  const tid = r.byte();
  const pduType = r.byte();
  if (pduType !== 0x06 && pduType !== 0x07) throw new Error(`not a WSP push PDU (type 0x${pduType.toString(16)})`);
  const headersLen = r.uintvar();
  const headerEnd = r.pos + headersLen;
  const { contentType, params } = readContentType(r);
  const out: WapPushPdu = { tid, pduType, contentType, params, headers: [], body: Buffer.alloc(0) };
  while (r.pos < headerEnd) {
    const b = r.peek();
    if (b >= 0x80) {
      r.byte();
      const field = b & 0x7f;
      if (field === 0x2f) {
        const v = r.peek();
        if (v >= 0x80) {
          const code = r.byte() & 0x7f;
          out.applicationId = WSP_APP_IDS[code] ?? String(code);
        } else if (v <= 30) {
          const n = r.byte();
          out.applicationId = String(r.bytes(n).reduce((acc, x) => acc * 256 + x, 0));
        } else out.applicationId = r.text();
      } else out.headers.push({ name: `0x${field.toString(16).padStart(2, '0')}`, value: readValue(r) });
    } else {
      const name = r.text();
      out.headers.push({ name, value: Buffer.from(r.text(), 'utf8') });
    }
  }
  out.body = pdu.subarray(headerEnd);
  return out;
}

function readValue(r: Reader): Buffer {
  const b = r.peek();
  if (b <= 30) return r.bytes(r.byte());
  if (b === 31) {
    r.byte();
    return r.bytes(r.uintvar());
  }
  if (b >= 0x80) return r.bytes(1);
  return Buffer.from(r.text(), 'utf8');
}

function readContentType(r: Reader): { contentType: string; params: Record<string, string | number> } {
  const params: Record<string, string | number> = {};
  const b = r.peek();
  if (b >= 0x80) {
    r.byte();
    return { contentType: WSP_CONTENT_TYPES[b & 0x7f] ?? `0x${(b & 0x7f).toString(16)}`, params };
  }
  if (b > 31) return { contentType: r.text(), params };
  // Content-general-form: Value-length Media-type *Parameter
  r.byte();
  const len = b === 31 ? r.uintvar() : b;
  const end = r.pos + len;
  const m = r.peek();
  const contentType = m >= 0x80 ? (WSP_CONTENT_TYPES[r.byte() & 0x7f] ?? `0x${(m & 0x7f).toString(16)}`) : r.text();
  while (r.pos < end) {
    const p = r.peek();
    if (p === 0x91) {
      r.byte();
      params.SEC = r.byte() & 0x7f;
    } else if (p === 0x92) {
      r.byte();
      params.MAC = r.text();
    } else if (p === 0x81) {
      r.byte();
      const v = r.peek();
      params.charset = v >= 0x80 ? r.byte() & 0x7f : r.bytes(r.byte()).reduce((acc, x) => acc * 256 + x, 0);
    } else if (p < 0x80) {
      const name = r.text();
      params[name] = r.text();
    } else throw new Error(`unsupported content-type parameter 0x${p.toString(16)}`);
  }
  return { contentType, params };
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  peek(): number {
    const b = this.buf[this.pos];
    if (b === undefined) throw new Error(`unexpected end of data at ${this.pos}`);
    return b;
  }
  byte(): number {
    const b = this.peek();
    this.pos++;
    return b;
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error(`unexpected end of data at ${this.pos} (+${n})`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  uintvar(): number {
    let v = 0;
    for (;;) {
      const b = this.byte();
      v = v * 128 + (b & 0x7f);
      if (!(b & 0x80)) return v;
    }
  }
  /** NUL-terminated string (a leading 0x7F quote is dropped). */
  text(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new Error(`unterminated string at ${this.pos}`);
    let s = this.buf.subarray(this.pos, end);
    if (s[0] === 0x7f) s = s.subarray(1);
    this.pos = end + 1;
    return s.toString('utf8');
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
}

// ---------------------------------------------------------------------------------------------
// WBXML Service Indication (WAP-167 SI, §8)

export interface ServiceIndication {
  href?: string;
  siId?: string;
  action?: string;
  created?: string;
  expires?: string;
  text: string;
  wbxmlVersion: number;
  publicId: number;
  charset: number;
}

const SI_TAGS: Record<number, string> = { 5: 'si', 6: 'indication', 7: 'info', 8: 'item' };
/** Attribute start tokens: [name, value prefix]. */
const SI_ATTR_START: Record<number, [string, string]> = {
  5: ['action', 'signal-none'],
  6: ['action', 'signal-low'],
  7: ['action', 'signal-medium'],
  8: ['action', 'signal-high'],
  9: ['action', 'delete'],
  10: ['created', ''],
  11: ['href', ''],
  12: ['href', 'http://'],
  13: ['href', 'http://www.'],
  14: ['href', 'https://'],
  15: ['href', 'https://www.'],
  16: ['si-expires', ''],
  17: ['si-id', ''],
  18: ['class', ''],
};
/** Attribute value tokens. */
const SI_ATTR_VALUE: Record<number, string> = { 133: '.com/', 134: '.edu/', 135: '.net/', 136: '.org/' };

/** Decodes a WBXML SI document (what Kannel's PPG compiles `text/vnd.wap.si` into). */
export function decodeSi(wbxml: Buffer): ServiceIndication {
  const r = new Reader(wbxml);
  const version = r.byte();
  let publicId = r.uintvar();
  if (publicId === 0) publicId = -r.uintvar(); // string-table reference
  const charset = r.uintvar();
  const strtbl = r.bytes(r.uintvar());
  const tableString = (idx: number) => {
    const end = strtbl.indexOf(0, idx);
    return strtbl.subarray(idx, end < 0 ? undefined : end).toString('utf8');
  };
  const attrs: Record<string, string> = {};
  let text = '';
  let page = 0;

  const readAttrs = () => {
    let current: string | undefined;
    for (;;) {
      const t = r.byte();
      if (t === 0x01) return; // END of attribute list
      if (t === 0x00) {
        page = r.byte();
        continue;
      }
      if (t === 0x03) {
        if (current) attrs[current] += r.text();
        else r.text();
      } else if (t === 0x83) {
        const s = tableString(r.uintvar());
        if (current) attrs[current] += s;
      } else if (t === 0xc3) {
        const data = r.bytes(r.uintvar());
        if (current) attrs[current] += current === 'created' || current === 'si-expires' ? siDate(data) : data.toString('hex');
      } else if (t === 0x02) {
        const cp = r.uintvar();
        if (current) attrs[current] += String.fromCodePoint(cp);
      } else if (t >= 0x80) {
        const v = SI_ATTR_VALUE[t];
        if (v === undefined) throw new Error(`unknown SI attribute value token 0x${t.toString(16)}`);
        if (current) attrs[current] += v;
      } else {
        const start = page === 0 ? SI_ATTR_START[t] : undefined;
        if (!start) throw new Error(`unknown SI attribute start token 0x${t.toString(16)} (page ${page})`);
        current = start[0];
        attrs[current] = start[1];
      }
    }
  };

  const readElement = (): void => {
    const t = r.byte();
    if (t === 0x00) {
      page = r.byte();
      readElement();
      return;
    }
    const tag = SI_TAGS[t & 0x3f];
    if (!tag) throw new Error(`unknown SI tag token 0x${t.toString(16)}`);
    if (t & 0x80) readAttrs();
    if (!(t & 0x40)) return;
    for (;;) {
      const c = r.peek();
      if (c === 0x01) {
        r.byte();
        return;
      }
      if (c === 0x03) {
        r.byte();
        const s = r.text();
        if (tag === 'indication') text += s;
      } else if (c === 0x83) {
        r.byte();
        const s = tableString(r.uintvar());
        if (tag === 'indication') text += s;
      } else if (c === 0x02) {
        r.byte();
        const s = String.fromCodePoint(r.uintvar());
        if (tag === 'indication') text += s;
      } else readElement();
    }
  };

  readElement();
  return {
    href: attrs.href,
    siId: attrs['si-id'],
    action: attrs.action,
    created: attrs.created,
    expires: attrs['si-expires'],
    text: text.trim(),
    wbxmlVersion: version,
    publicId,
    charset,
  };
}

/** SI OPAQUE dates: BCD digits YYYYMMDDhhmmss, trailing zero octets dropped. */
function siDate(bcd: Buffer): string {
  const digits = bcd.toString('hex').padEnd(14, '0');
  return `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6, 8)}T${digits.slice(8, 10)}:${digits.slice(10, 12)}:${digits.slice(12, 14)}Z`;
}

/** A WAP push as received: UDH ports + WSP push PDU, for concatenated or single SMS. */
export function decodeWapPushSms(m: AssembledSms): WapPushPdu & { ports?: { dst: number; src: number } } {
  if (m.ports?.dst !== 2948) throw new Error(`not a WAP push SMS: UDH ports ${JSON.stringify(m.ports)}`);
  return { ...decodeWspPush(m.data), ports: m.ports };
}

// ---------------------------------------------------------------------------------------------
// The gateway

export interface KannelGateway {
  dir: string;
  smsc: TestSmsc;
  ports: { admin: number; smsbox: number; wapbox: number; sendsms: number; ppg: number; smscReceive: number };
  sendsmsUrl: string;
  ppgUrl: string;
  sendsmsUser: { username: string; password: string };
  ppgUser: { username: string; password: string };
  senderId: string;
  /** A KannelChannelConfig for this gateway. */
  channelConfig(overrides?: Partial<KannelChannelConfig>): KannelChannelConfig;
  /** bearerbox's status page (text). */
  status(): Promise<string>;
  /** Stops one box (to simulate an outage); `stop()` stops the rest. */
  stopBox(box: 'smsbox' | 'wapbox'): Promise<void>;
  /** The last lines of each box's log (for failure messages). */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface StartKannelOptions {
  /** Kannel console log level: 0 debug … 4 panic; default 1 (env KANNEL_LOG_LEVEL). */
  logLevel?: number;
  /** Keep the temp dir (configs, logs) after stop (env KANNEL_KEEP_DIR=1). */
  keepDir?: boolean;
}

export async function startKannel(opts: StartKannelOptions = {}): Promise<KannelGateway> {
  const bin = kannelBinaries();
  const logLevel = opts.logLevel ?? Number(process.env.KANNEL_LOG_LEVEL ?? 1);
  const keepDir = opts.keepDir ?? process.env.KANNEL_KEEP_DIR === '1';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dr-kannel-'));
  const smsc = new TestSmsc();
  const procs: Partial<Record<'bearerbox' | 'smsbox' | 'wapbox', ManagedProcess>> = {};
  const ports = {
    admin: await freePort(),
    smsbox: await freePort(),
    wapbox: await freePort(),
    sendsms: await freePort(),
    ppg: await freePort(),
    smscReceive: await freePort(),
  };
  const adminPassword = 'admin-secret';
  const sendsmsUser = { username: 'rollout', password: 'sendsms-secret' };
  const ppgUser = { username: 'pushuser', password: 'ppg-secret' };
  const senderId = 'DevRollout';
  const logs = {
    bearerbox: path.join(dir, 'bearerbox.log'),
    smsbox: path.join(dir, 'smsbox.log'),
    wapbox: path.join(dir, 'wapbox.log'),
  };

  const stopAll = async () => {
    for (const box of ['wapbox', 'smsbox', 'bearerbox'] as const) await procs[box]?.stop(10_000);
    await smsc.stop();
  };

  const logTail = async (lines = 40) => {
    const out: string[] = [];
    for (const [box, file] of Object.entries(logs)) {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      out.push(`--- ${box} (${file})\n${text.split('\n').slice(-lines).join('\n')}`);
    }
    return out.join('\n');
  };

  try {
    await smsc.start();
    smsc.bearerboxPort = ports.smscReceive;
    const conf = path.join(dir, 'kannel.conf');
    await fs.writeFile(conf, kannelConf({ ports, adminPassword, smsc, sendsmsUser, ppgUser, senderId }), 'utf8');
    const exitedEarly = (box: keyof typeof procs) => () =>
      procs[box]?.exited() ? `${box} exited during start-up (see ${logs[box]})` : undefined;

    procs.bearerbox = startProcess(bin.bearerbox, ['-v', String(logLevel), conf], {
      name: 'bearerbox',
      logFile: logs.bearerbox,
      cwd: dir,
    });
    await waitFor('bearerbox admin port', () => portOpen(ports.admin), { timeoutMs: 20_000, aborted: exitedEarly('bearerbox') });
    await waitFor('bearerbox box ports', async () => (await portOpen(ports.smsbox)) && (await portOpen(ports.wapbox)), {
      timeoutMs: 20_000,
      aborted: exitedEarly('bearerbox'),
    });
    procs.smsbox = startProcess(bin.smsbox, ['-v', String(logLevel), conf], { name: 'smsbox', logFile: logs.smsbox, cwd: dir });
    procs.wapbox = startProcess(bin.wapbox, ['-v', String(logLevel), conf], { name: 'wapbox', logFile: logs.wapbox, cwd: dir });
    const status = async () => {
      const res = await fetch(`http://127.0.0.1:${ports.admin}/status.txt?password=${adminPassword}`);
      return res.text();
    };
    await waitFor(
      'Kannel ready (smsbox + wapbox connected, SMSC online, sendsms and PPG listening)',
      async () => {
        const s = await status();
        return (
          /^\s*smsbox\b.*on-line/im.test(s) &&
          /^\s*wapbox\b.*on-line/im.test(s) &&
          /^\s*testsmsc\b.*\(online/im.test(s) &&
          (await portOpen(ports.sendsms)) &&
          (await portOpen(ports.ppg))
        );
      },
      {
        timeoutMs: 30_000,
        aborted: () => exitedEarly('bearerbox')() ?? exitedEarly('smsbox')() ?? exitedEarly('wapbox')(),
      },
    );
  } catch (err) {
    const tail = await logTail(30);
    await stopAll();
    throw new Error(`starting Kannel failed: ${(err as Error).message}\n${tail}`, { cause: err });
  }

  const sendsmsUrl = `http://127.0.0.1:${ports.sendsms}/cgi-bin/sendsms`;
  const ppgUrl = `http://127.0.0.1:${ports.ppg}/wappush`;
  return {
    dir,
    smsc,
    ports,
    sendsmsUrl,
    ppgUrl,
    sendsmsUser,
    ppgUser,
    senderId,
    channelConfig: (overrides = {}) => ({
      sendsmsUrl,
      username: sendsmsUser.username,
      password: sendsmsUser.password,
      senderId,
      ppgUrl,
      ppgUsername: ppgUser.username,
      ppgPassword: ppgUser.password,
      ppgAddressHost: 'ppg.test',
      timeoutMs: 5_000,
      ...overrides,
    }),
    status: async () => (await fetch(`http://127.0.0.1:${ports.admin}/status.txt?password=${adminPassword}`)).text(),
    stopBox: async (box) => {
      await procs[box]?.stop(10_000);
    },
    logTail,
    stop: async () => {
      await stopAll();
      if (!keepDir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function kannelConf(c: {
  ports: KannelGateway['ports'];
  adminPassword: string;
  smsc: TestSmsc;
  sendsmsUser: { username: string; password: string };
  ppgUser: { username: string; password: string };
  senderId: string;
}): string {
  return `# Throwaway Kannel for the DeviceRollout channel tests (test/helpers/kannel.ts)

group = core
admin-port = ${c.ports.admin}
admin-interface = 127.0.0.1
admin-password = ${c.adminPassword}
smsbox-port = ${c.ports.smsbox}
smsbox-interface = 127.0.0.1
wapbox-port = ${c.ports.wapbox}
# box connections (the wapbox port binds all interfaces) only from loopback
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
# no UDP (WDP over IP) bearer: wdp-interface-name is not set
dlr-storage = internal
sms-resend-retry = 0

# The SMSC is the test process: bearerbox GETs every SMS to send-url (system-type kannel protocol:
# username, password, to, from, text, udh, coding, charset, dlr-url, dlr-mask …) and takes delivery
# reports on 'port' (dlr-mask + dlr-mid). dlr-url makes bearerbox pass the message id to the SMSC.
group = smsc
smsc = http
smsc-id = testsmsc
system-type = kannel
send-url = "http://127.0.0.1:${c.smsc.port}/sms"
port = ${c.ports.smscReceive}
connect-allow-ip = "127.0.0.1"
smsc-username = ${c.smsc.username}
smsc-password = ${c.smsc.password}
dlr-url = "http://127.0.0.1:${c.ports.smscReceive}/dlr?username=${c.smsc.username}&password=${c.smsc.password}"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = ${c.ports.smsbox}
sendsms-port = ${c.ports.sendsms}
sendsms-interface = 127.0.0.1

# concatenation + max-messages: long texts (and long binary pushes) go out as concatenated SMS
group = sendsms-user
username = ${c.sendsmsUser.username}
password = ${c.sendsmsUser.password}
user-deny-ip = "*.*.*.*"
user-allow-ip = "127.0.0.1"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
text = "No service specified"
omit-empty = true

group = wapbox
bearerbox-host = 127.0.0.1

# PPG: PAP submissions on /wappush. Not a trusted PI: a wap-push-user with password, and only
# 127.0.0.1 may connect (no ppg-deny-ip: Kannel treats a deny-all list as fatal; unlisted IPs are refused).
group = ppg
ppg-url = /wappush
ppg-port = ${c.ports.ppg}
concurrent-pushes = 100
users = 16
trusted-pi = false
ppg-allow-ip = "127.0.0.1"
global-sender = ${c.senderId}

group = wap-push-user
wap-push-user = rollout
ppg-username = ${c.ppgUser.username}
ppg-password = ${c.ppgUser.password}
allow-ip = "127.0.0.1"
`;
}
