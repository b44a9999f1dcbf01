/**
 * PushChannel over the Kannel WAP/SMS gateway (tested against Kannel 1.4.5 from Debian).
 *
 *  - `sendSms`        → smsbox `GET /cgi-bin/sendsms` (username, password, from, to, text, charset=UTF-8,
 *                       coding 0 = GSM 7-bit or 2 = UCS-2, dlr-mask + dlr-url). Long texts are split by
 *                       Kannel into concatenated SMS: the sendsms-user needs `concatenation = true` and
 *                       `max-messages` > 1 (the default of 1 truncates long texts!).
 *  - `sendWapPush`    → PPG (wapbox `group = ppg`, `POST /wappush`): a PAP 2.0 multipart/related request,
 *                       control entity `<push-message push-id=idempotencyKey>` addressed to
 *                       `WAPPUSH=+<msisdn>/TYPE=PLMN@<ppg host>` over bearer SMS, content entity a
 *                       `text/vnd.wap.si` Service Indication. Kannel compiles the SI to WBXML and sends it
 *                       as binary SMS (UDH port 2948, WSP push PDU).
 *  - `sendBinaryPush` → smsbox sendsms with `udh` (port 2948) + binary `text` (coding 1) holding a WSP
 *                       push PDU encoded by ./wsp.ts — NOT the PPG: Kannel's PPG drops Content-Type
 *                       parameters (SEC/MAC of OMA CP bootstraps) and sends unknown media types as text.
 *                       Long payloads (a CP bootstrap often is) are concatenated by Kannel, as for text.
 *
 * Delivery reports: with `dlrUrl` set, every message carries `dlr-mask` and a `dlr-url` built from
 * `dlrUrl` plus `key=<idempotency key>&kind=sms|wap|binary&status=%d&reply=%A&to=%p&at=%T`; smsbox
 * calls it (HTTP GET) for each report. `parseKannelDlr()` reads such a call.
 *
 * Errors: gateway unreachable / no answer / 5xx / PAP 3000 & 4xxx → `PushGatewayError` (retryable);
 * HTTP 4xx, PAP 2xxx and other PAP 3xxx, invalid MSISDN → `PushRejectedError` (non-retryable).
 *
 * Idempotency: a PPG refuses a push-id that it still holds (PAP 2007, reported as `duplicate`), and
 * the channel remembers the keys it has sent (per instance, last `idempotencyCacheSize`), answering a
 * repeated key with the first receipt and `duplicate: true`. Kannel's sendsms has no idempotency of its
 * own: a request that reached Kannel but whose answer was lost fails as `unanswered` (not
 * `unreachable`), and the durable record (durable.ts) waits for that message's delivery report before
 * it lets a retry send again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { normalizeMsisdn } from '../../domain/msisdn';
import type { BinaryPushMessage, DeliveryReceipt, PushChannel, SmsMessage, WapPushMessage } from '../../domain/ports';
import { PushGatewayError, PushRejectedError } from './errors';
import { type HttpResponse, HttpTransportError, httpRequest, redact } from './http';
import { KeyedOnce } from './idempotency';
import { isGsm7 } from './sms-text';
import { encodeWspPush, WAP_PUSH_UDH } from './wsp';

const TRANSPORT = 'kannel';

export type SiAction = 'signal-none' | 'signal-low' | 'signal-medium' | 'signal-high' | 'delete';

export interface KannelChannelConfig {
  /**
   * smsbox sendsms URL, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms` (env KANNEL_SENDSMS_URL).
   * A URL without a path gets `/cgi-bin/sendsms` appended.
   */
  sendsmsUrl: string;
  /** `group = sendsms-user` username (env KANNEL_SENDSMS_USERNAME). */
  username: string;
  /** `group = sendsms-user` password (env KANNEL_SENDSMS_PASSWORD). */
  password: string;
  /** Sender id shown on the device: short code, MSISDN or alphanumeric, e.g. `DevRollout` (env SMS_SENDER_ID). */
  senderId: string;
  /**
   * PPG push URL: `http://<wapbox host>:<ppg-port><ppg-url>`, e.g. `http://127.0.0.1:8080/wappush`
   * (env KANNEL_PPG_URL). Unset: `sendWapPush` fails with PushRejectedError (not configured).
   */
  ppgUrl?: string;
  /** `group = wap-push-user` ppg-username; sent as HTTP Basic auth. Unset with `trusted-pi = true` (env KANNEL_PPG_USERNAME). */
  ppgUsername?: string;
  /** `group = wap-push-user` ppg-password (env KANNEL_PPG_PASSWORD). */
  ppgPassword?: string;
  /** PPG specifier in the PAP address `WAPPUSH=+…/TYPE=PLMN@<this>`; default: the host of `ppgUrl` (env KANNEL_PPG_ADDRESS_HOST). */
  ppgAddressHost?: string;
  /**
   * Delivery-report callback (env KANNEL_DLR_URL), e.g. `http://127.0.0.1:3000/internal/kannel/dlr`.
   * Unset: no delivery reports are requested.
   */
  dlrUrl?: string;
  /** Kannel dlr-mask: 1 delivered, 2 failed, 4 buffered, 8 SMSC accepted, 16 SMSC rejected; default 31 (env KANNEL_DLR_MASK). */
  dlrMask?: number;
  /** Route through this Kannel smsc-id (sendsms `smsc`, PPG `X-Kannel-SMSC`); default: Kannel's routing (env KANNEL_SMSC_ID). */
  smscId?: string;
  /** SMS validity period in minutes (sendsms `validity`); default: the SMSC's (env KANNEL_SMS_VALIDITY_MINUTES). */
  validityMinutes?: number;
  /** SI `action`; default `signal-high` (the device alerts the user at once) (env KANNEL_SI_ACTION). */
  siAction?: SiAction;
  /** Per-request timeout in ms; default 10000 (env KANNEL_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How many sent idempotency keys to remember per channel instance; default 10000. */
  idempotencyCacheSize?: number;
}

export type DlrKind = 'sms' | 'wap' | 'binary';

export class KannelPushChannel implements PushChannel {
  private readonly sendsmsUrl: URL;
  private readonly ppgUrl?: URL;
  private readonly timeoutMs: number;
  private readonly sent: KeyedOnce<DeliveryReceipt>;

  constructor(private readonly config: KannelChannelConfig) {
    this.sendsmsUrl = new URL(config.sendsmsUrl);
    if (this.sendsmsUrl.pathname === '/' || this.sendsmsUrl.pathname === '') this.sendsmsUrl.pathname = '/cgi-bin/sendsms';
    if (config.ppgUrl) this.ppgUrl = new URL(config.ppgUrl);
    if (!config.senderId) throw new Error('kannel channel: senderId is required');
    if (config.dlrMask !== undefined && !(Number.isInteger(config.dlrMask) && config.dlrMask >= 0 && config.dlrMask <= 31))
      throw new Error(`kannel channel: dlrMask ${config.dlrMask} is not in 0..31`);
    if (config.dlrUrl && !/^https?:\/\//.test(config.dlrUrl))
      throw new Error('kannel channel: dlrUrl must be an http:// or https:// URL (Kannel refuses others)');
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.sent = new KeyedOnce(config.idempotencyCacheSize ?? 10_000);
  }

  sendSms(msg: SmsMessage): Promise<DeliveryReceipt> {
    return this.sent.run(msg.idempotencyKey, async () => {
      const to = msisdn(msg.to);
      if (msg.text.length === 0) throw invalid('SMS text is empty');
      const params: QueryParam[] = [
        ...this.auth(),
        ['from', this.config.senderId],
        ['to', to],
        ['text', msg.text],
        ['charset', 'UTF-8'],
        ['coding', isGsm7(msg.text) ? '0' : '2'],
        ...this.common(msg.idempotencyKey, 'sms'),
      ];
      await this.sendsms(params);
      return { transport: TRANSPORT };
    });
  }

  sendBinaryPush(msg: BinaryPushMessage): Promise<DeliveryReceipt> {
    return this.sent.run(msg.idempotencyKey, async () => {
      const to = msisdn(msg.to);
      let pdu: Buffer;
      try {
        pdu = encodeWspPush({
          contentType: msg.contentType,
          applicationId: msg.applicationId,
          body: msg.body,
          tid: tidFor(msg.idempotencyKey),
        });
      } catch (err) {
        throw invalid(`binary push: ${(err as Error).message}`, err);
      }
      const params: QueryParam[] = [
        ...this.auth(),
        ['from', this.config.senderId],
        ['to', to],
        ['udh', WAP_PUSH_UDH],
        ['text', pdu],
        ['coding', '1'],
        ...this.common(msg.idempotencyKey, 'binary'),
      ];
      await this.sendsms(params);
      return { transport: TRANSPORT };
    });
  }

  sendWapPush(msg: WapPushMessage): Promise<DeliveryReceipt> {
    return this.sent.run(msg.idempotencyKey, async () => {
      const ppgUrl = this.ppgUrl;
      if (!ppgUrl)
        throw new PushRejectedError('kannel channel: WAP push needs the PPG URL (KANNEL_PPG_URL), which is not configured', {
          code: 'unsupported',
          transport: TRANSPORT,
        });
      const to = msisdn(msg.to);
      if (!/^https?:\/\//i.test(msg.href)) throw invalid(`WAP push href must be an http(s) URL, got "${msg.href}"`);
      const boundary = `dr-${randomBytes(12).toString('hex')}`;
      const pap = papDocument({
        pushId: msg.idempotencyKey,
        address: `WAPPUSH=${to}/TYPE=PLMN@${this.config.ppgAddressHost ?? ppgUrl.hostname}`,
      });
      const si = siDocument({
        href: msg.href,
        siId: msg.siId ?? msg.href,
        text: msg.text,
        action: this.config.siAction ?? 'signal-high',
        created: msg.created ?? new Date(),
        expires: msg.expires,
      });
      const body = Buffer.from(
        [
          `--${boundary}`,
          'Content-Type: application/xml; charset=utf-8',
          '',
          pap,
          `--${boundary}`,
          'Content-Type: text/vnd.wap.si; charset=utf-8',
          '',
          si,
          `--${boundary}--`,
          '',
        ].join('\r\n'),
        'utf8',
      );
      // Every request header except the hop/auth ones ends up in the pushed WSP headers: keep them few.
      const headers: Record<string, string> = {
        'Content-Type': `multipart/related; boundary=${boundary}; type="application/xml"`,
        'X-Kannel-From': this.config.senderId,
      };
      if (this.config.ppgUsername !== undefined)
        headers.Authorization = `Basic ${Buffer.from(`${this.config.ppgUsername}:${this.config.ppgPassword ?? ''}`).toString('base64')}`;
      if (this.config.smscId) headers['X-Kannel-SMSC'] = this.config.smscId;
      if (this.config.dlrUrl) {
        headers['X-Kannel-DLR-Url'] = buildDlrUrl(this.config.dlrUrl, msg.idempotencyKey, 'wap');
        headers['X-Kannel-DLR-Mask'] = String(this.config.dlrMask ?? 31);
      }
      const res = await this.call(ppgUrl, { method: 'POST', headers, body });
      const result = parsePapResponse(res.text());
      if (res.status >= 500) throw gatewayError(ppgUrl, res, result?.code);
      if (res.status >= 400) throw rejected(ppgUrl, res, result?.code);
      if (res.status < 200 || res.status >= 300 || !result)
        throw new PushGatewayError(`PPG ${redact(ppgUrl)} answered ${res.status} without a PAP response`, {
          code: 'bad-response',
          transport: TRANSPORT,
          status: res.status,
          response: trim(res.text()),
        });
      return classifyPap(ppgUrl, res, result, msg.idempotencyKey);
    });
  }

  private auth(): QueryParam[] {
    return [
      ['username', this.config.username],
      ['password', this.config.password],
    ];
  }

  private common(key: string, kind: DlrKind): QueryParam[] {
    const p: QueryParam[] = [];
    if (this.config.dlrUrl) {
      p.push(['dlr-mask', String(this.config.dlrMask ?? 31)]);
      p.push(['dlr-url', buildDlrUrl(this.config.dlrUrl, key, kind)]);
    }
    if (this.config.smscId) p.push(['smsc', this.config.smscId]);
    if (this.config.validityMinutes !== undefined) p.push(['validity', String(this.config.validityMinutes)]);
    return p;
  }

  private async sendsms(params: QueryParam[]): Promise<void> {
    const url = new URL(this.sendsmsUrl);
    const extra = encodeQuery(params);
    url.search = url.search ? `${url.search}&${extra}` : `?${extra}`;
    const res = await this.call(url, { method: 'GET' });
    if (res.status >= 200 && res.status < 300) return;
    if (res.status >= 400 && res.status < 500) throw rejected(url, res);
    throw gatewayError(url, res);
  }

  private async call(
    url: URL,
    opts: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Buffer },
  ): Promise<HttpResponse> {
    try {
      return await httpRequest(url, { ...opts, timeoutMs: this.timeoutMs });
    } catch (err) {
      const transportError = err instanceof HttpTransportError ? err : undefined;
      const unanswered = transportError?.requestSent === true;
      throw new PushGatewayError(
        `Kannel at ${redact(url)} ${unanswered ? 'did not answer' : 'is unreachable'}: ${(err as Error).message}`,
        {
          code: unanswered ? 'unanswered' : 'unreachable',
          transport: TRANSPORT,
          response: transportError?.errorCode,
          cause: err,
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Delivery reports

/**
 * The dlr-url Kannel calls back: `dlrUrl` + `key`, `kind` and Kannel's escapes `%d` (report type),
 * `%A` (SMSC reply), `%p` (receiver), `%T` (unix time). Literal `%` are doubled: Kannel expands
 * `%X` escapes in the whole URL.
 */
export function buildDlrUrl(base: string, idempotencyKey: string, kind: DlrKind): string {
  const sep = base.includes('?') ? (/[?&]$/.test(base) ? '' : '&') : '?';
  const literal = `${base}${sep}key=${encodeURIComponent(idempotencyKey)}&kind=${kind}`;
  return `${literal.replace(/%/g, '%%')}&status=%d&reply=%A&to=%p&at=%T`;
}

type DlrState = 'delivered' | 'failed' | 'buffered' | 'smsc-accepted' | 'smsc-rejected' | 'unknown';

export interface KannelDeliveryReport {
  idempotencyKey: string;
  kind?: DlrKind;
  /** Kannel's DLR type (`%d`): 1, 2, 4, 8 or 16. */
  type: number;
  state: DlrState;
  /** The SMSC's reply text (`%A`), e.g. `ACK/` or `id:… stat:DELIVRD …`. */
  reply?: string;
  to?: string;
  at?: Date;
}

/** Reads the query of a delivery-report callback built by `buildDlrUrl`; undefined if it is none. */
export function parseKannelDlr(
  query: URLSearchParams | Record<string, string | string[] | undefined>,
): KannelDeliveryReport | undefined {
  const get = (k: string): string | undefined => {
    if (query instanceof URLSearchParams) return query.get(k) ?? undefined;
    const v = query[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const key = get('key');
  const type = Number(get('status'));
  if (!key || !Number.isInteger(type)) return undefined;
  const kind = get('kind');
  const at = Number(get('at'));
  return {
    idempotencyKey: key,
    kind: kind === 'sms' || kind === 'wap' || kind === 'binary' ? kind : undefined,
    type,
    state: dlrState(type),
    reply: get('reply') || undefined,
    to: get('to') || undefined,
    at: Number.isFinite(at) && at > 0 ? new Date(at * 1000) : undefined,
  };
}

function dlrState(type: number): DlrState {
  switch (type) {
    case 1:
      return 'delivered';
    case 2:
      return 'failed';
    case 4:
      return 'buffered';
    case 8:
      return 'smsc-accepted';
    case 16:
      return 'smsc-rejected';
    default:
      return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// PAP / SI documents

interface PapResult {
  code: number;
  desc?: string;
  pushId?: string;
}

function papDocument(p: { pushId: string; address: string }): string {
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 2.0//EN" "http://www.wapforum.org/DTD/pap_2.0.dtd">',
    '<pap>',
    `<push-message push-id="${xmlEscape(p.pushId)}">`,
    `<address address-value="${xmlEscape(p.address)}"></address>`,
    '<quality-of-service delivery-method="unconfirmed" network-required="true" network="GSM" bearer-required="true" bearer="SMS"></quality-of-service>',
    '</push-message>',
    '</pap>',
  ].join('\r\n');
}

function siDocument(p: { href: string; siId: string; text: string; action: SiAction; created: Date; expires?: Date }): string {
  const attrs = [
    `href="${xmlEscape(p.href)}"`,
    `si-id="${xmlEscape(p.siId)}"`,
    `action="${p.action}"`,
    `created="${siDate(p.created)}"`,
  ];
  if (p.expires) attrs.push(`si-expires="${siDate(p.expires)}"`);
  return [
    '<?xml version="1.0"?>',
    '<!DOCTYPE si PUBLIC "-//WAPFORUM//DTD SI 1.0//EN" "http://www.wapforum.org/DTD/si.dtd">',
    `<si><indication ${attrs.join(' ')}>${xmlEscape(p.text)}</indication></si>`,
  ].join('\r\n');
}

/** SI dates: `YYYY-MM-DDThh:mm:ssZ` (no fraction). */
function siDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** Finds `response-result`/`badmessage-response` code and desc in a PAP answer (Kannel writes `code ="1001"`). */
function parsePapResponse(xml: string): PapResult | undefined {
  const el = /<(response-result|badmessage-response)\b([^>]*)>/i.exec(xml);
  if (!el?.[2]) return undefined;
  const attr = (name: string) => new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i').exec(el[2] ?? '')?.[1];
  const code = Number(attr('code'));
  if (!Number.isInteger(code)) return undefined;
  const pushId = /<push-response\b[^>]*\bpush-id\s*=\s*"([^"]*)"/i.exec(xml)?.[1];
  return { code, desc: attr('desc'), pushId: pushId === undefined ? undefined : xmlUnescape(pushId) };
}

function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] ?? _);
}

/** PAP codes (PAP 2.0 §9.13) that a retry may fix: 3000 internal error, 4xxx service failure/unavailable. */
function classifyPap(url: URL, res: HttpResponse, r: PapResult, key: string): DeliveryReceipt {
  if (r.code >= 1000 && r.code < 2000) return { transport: TRANSPORT, providerId: r.pushId ?? key };
  if (r.code === 2007) return { transport: TRANSPORT, providerId: r.pushId ?? key, duplicate: true };
  const what = `PPG ${redact(url)} answered PAP ${r.code}${r.desc ? ` (${r.desc})` : ''}`;
  const details = { transport: TRANSPORT, status: res.status, response: trim(res.text()), papCode: r.code };
  if (r.code === 3000 || r.code >= 4000) throw new PushGatewayError(what, { ...details, code: 'temporary' });
  throw new PushRejectedError(what, { ...details, code: 'rejected' });
}

function rejected(url: URL, res: HttpResponse, papCode?: number): PushRejectedError {
  return new PushRejectedError(`Kannel at ${redact(url)} refused the message: ${res.status} ${trim(res.text())}`, {
    code: 'rejected',
    transport: TRANSPORT,
    status: res.status,
    response: trim(res.text()),
    papCode,
  });
}

function gatewayError(url: URL, res: HttpResponse, papCode?: number): PushGatewayError {
  return new PushGatewayError(`Kannel at ${redact(url)} failed: ${res.status} ${trim(res.text())}`, {
    code: res.status >= 500 ? 'temporary' : 'bad-response',
    transport: TRANSPORT,
    status: res.status,
    response: trim(res.text()),
    papCode,
  });
}

// ---------------------------------------------------------------------------------------------
// helpers

type QueryParam = [string, string | Buffer];

/** Query string with UTF-8 strings and raw bytes (Buffers) percent-encoded; Kannel reads both. */
function encodeQuery(params: QueryParam[]): string {
  return params
    .map(([k, v]) => `${encodeURIComponent(k)}=${typeof v === 'string' ? encodeURIComponent(v) : percentBytes(v)}`)
    .join('&');
}

function percentBytes(buf: Buffer): string {
  let out = '';
  for (const b of buf) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function msisdn(to: string): string {
  const n = normalizeMsisdn(to);
  if (!n) throw invalid(`"${to}" is not an MSISDN in international format (+<country><number>)`);
  return n;
}

function invalid(message: string, cause?: unknown): PushRejectedError {
  return new PushRejectedError(message, { code: 'invalid', transport: TRANSPORT, cause });
}

/** WSP transaction id: stable per idempotency key, so a retried push looks the same to the device. */
function tidFor(key: string): number {
  return createHash('sha256').update(key).digest()[0] ?? 0;
}

function trim(s: string): string {
  const t = s.trim();
  return t.length > 500 ? `${t.slice(0, 500)}…` : t;
}
