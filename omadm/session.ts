/**
 * The server side of an OMA DM 1.2 session as a pure state machine (OMA-TS-DM_Protocol 1.2,
 * DM_Security 1.2; M1, M2): `handleDmMessage(state, message, ctx)` → the new state, the reply and the
 * events. Nothing is performed here: the caller persists the state, sends the reply and acts on the
 * events (signals to the install workflow).
 */
import { createHash } from 'node:crypto';
import { type AuthScheme, buildChal, decodeNonce, generateNonce, parseHmacHeader, verifyCred, verifyHmac } from './dm-auth';
import { failInstall, nextInstallCommands, resumeInterruptedInstall } from './scomo';
import { answerClientCommands, applyClientStatuses } from './session-commands';
import { itemDataSize, noteClientLimits, packReply } from './session-limits';
import {
  type DmDeviceState,
  type DmEvent,
  type DmHandleContext,
  type DmHandleResult,
  type DmSessionState,
  PENDING_MSG_ID,
} from './session-model';
import { buildReplyMessage, encodeMessage, ReplyBuilder, replyHeaders } from './session-reply';
import { AlertCode, type Chal, type DmCommand, parseSyncML, StatusCode, type SyncMLMessage, serializeSyncML } from './syncml';

/** Replies with the server's credentials and no verdict back before the server stops presenting them. */
const MAX_SERVER_CRED_ATTEMPTS = 3;

function newSession(sessionId: string): DmSessionState {
  return {
    sessionId,
    phase: 'auth',
    authenticated: false,
    authFailures: 0,
    serverMsgId: 0,
    serverAuthenticated: false,
    outstanding: [],
  };
}

/**
 * Checks the client's credentials: `syncml:auth-md5` (default) or `syncml:auth-basic` in the SyncHdr
 * Cred, or HMAC in the x-syncml-hmac transport header.
 */
type ClientAuth = { ok: true; scheme: AuthScheme } | { ok: false; reason: string };

function authenticateClient(s: DmDeviceState, msg: SyncMLMessage, ctx: DmHandleContext): ClientAuth {
  const acc = s.account;
  if (acc.authScheme === 'hmac') {
    const header = ctx.transport?.hmacHeader;
    const body = ctx.transport?.body;
    if (header === undefined || body === undefined) return { ok: false, reason: 'missing' };
    const parsed = parseHmacHeader(header);
    if (!parsed) return { ok: false, reason: 'malformed-hmac-header' };
    const ok = verifyHmac({
      header: parsed,
      username: acc.clientUsername,
      password: acc.clientPassword,
      nonce: decodeNonce(acc.clientNonce),
      body,
    });
    return ok ? { ok: true, scheme: 'hmac' } : { ok: false, reason: 'bad-credentials' };
  }
  const allowed: readonly ('basic' | 'md5')[] =
    acc.authScheme === 'basic' ? ['basic'] : (ctx.config?.acceptedCredSchemes ?? ['md5']);
  const opts: { locName?: string; allowed: readonly ('basic' | 'md5')[] } = { allowed };
  if (msg.header.source.locName !== undefined) opts.locName = msg.header.source.locName;
  const check = verifyCred(
    msg.header.cred,
    { username: acc.clientUsername, password: acc.clientPassword, nonceB64: acc.clientNonce },
    opts,
  );
  return check.ok ? { ok: true, scheme: check.scheme } : { ok: false, reason: check.reason };
}

/**
 * Processes one parsed client message. Throws only on programming errors; protocol problems are
 * answered in SyncML (status codes).
 */
export function handleDmMessage(state: DmDeviceState, msg: SyncMLMessage, ctx: DmHandleContext = {}): DmHandleResult {
  const hdr = msg.header;
  const prev = state.session;
  const msgHash = createHash('sha256').update(JSON.stringify(msg)).digest('hex');
  // A retransmission (same SessionID, MsgID and content) gets the identical cached reply.
  if (
    prev &&
    prev.sessionId === hdr.sessionId &&
    prev.lastClientMsgId === hdr.msgId &&
    prev.lastClientMsgHash === msgHash &&
    prev.lastReplyXml !== undefined
  ) {
    // Re-encoded in the encoding of this request: the encoders are deterministic, so the same bytes.
    const reply = parseSyncML(prev.lastReplyXml);
    const replyBody = encodeMessage(reply, ctx.encoding ?? 'xml');
    return {
      state,
      reply,
      replyXml: prev.lastReplyXml,
      replyBody,
      headers: replyHeaders(state.account, replyBody, ctx.encoding ?? 'xml'),
      events: [],
      sessionComplete: prev.lastReplyComplete ?? false,
      duplicate: true,
    };
  }

  const s: DmDeviceState = structuredClone(state);
  const events: DmEvent[] = [];
  const config = ctx.config ?? {};
  const newNonce = ctx.newNonce ?? (() => generateNonce());
  const maxFailures = config.maxAuthFailures ?? 3;
  const deviceUri = hdr.source.locURI;
  if (s.deviceId === undefined) s.deviceId = deviceUri;

  if (!prev || prev.sessionId !== hdr.sessionId || (hdr.msgId === '1' && prev.phase !== 'auth')) {
    resumeInterruptedInstall(s);
    s.session = newSession(hdr.sessionId);
    events.push({ type: 'sessionStarted', sessionId: hdr.sessionId, deviceId: deviceUri });
  }
  const ses = s.session as DmSessionState;
  noteClientLimits(ses, msg);
  ses.lastClientMsgId = hdr.msgId;
  ses.lastClientMsgHash = msgHash;
  ses.serverMsgId += 1;
  const serverMsgId = String(ses.serverMsgId);
  const rb = new ReplyBuilder();
  const msgRef = hdr.msgId;
  const hdrRefs = { targetRefs: [hdr.target.locURI], sourceRefs: [hdr.source.locURI] };
  let final = true;
  let sessionComplete = false;
  /** This reply carries on the server's split package (the client asked with Alert 1222). */
  let continuePackage = false;

  const finish = (): DmHandleResult => {
    const encoding = ctx.encoding ?? 'xml';
    // The server presents its credentials only in a message the client answers (not the last one):
    // the client's verdict (212 + the NextNonce for the server's next digest) must come back.
    const withServerCred = !sessionComplete;
    const build = (commands: DmCommand[]) =>
      buildReplyMessage(s.account, ses, msg, serverMsgId, commands, final, ctx, withServerCred);
    if (sessionComplete) {
      // The session ends here (completed, aborted, refused): the rest of a split package is dropped;
      // the install resumes from a safe step in the next session.
      delete ses.pending;
      ses.outstanding = ses.outstanding.filter((o) => o.msgId !== PENDING_MSG_ID);
    }
    const { sent, packageContinues } = packReply({ ses, serverMsgId, commands: rb.commands, encoding, build, continuePackage });
    if (packageContinues) {
      // The package continues in the next message (the client asks with Alert 1222): no Final yet.
      final = false;
      sessionComplete = false;
    }
    // (with the credentials decided before packing: the sizes were measured with them)
    const reply = buildReplyMessage(s.account, ses, msg, serverMsgId, sent, final, ctx, withServerCred);
    if (reply.header.cred) ses.serverCredSent = (ses.serverCredSent ?? 0) + 1;
    const replyXml = serializeSyncML(reply);
    const replyBody = encoding === 'xml' ? Buffer.from(replyXml, 'utf8') : encodeMessage(reply, encoding);
    const headers = replyHeaders(s.account, replyBody, encoding);
    ses.lastReplyXml = replyXml;
    ses.lastReplyHeaders = headers;
    ses.lastReplyComplete = sessionComplete;
    return { state: s, reply, replyXml, replyBody, headers, events, sessionComplete, duplicate: false };
  };

  // --- protocol version --------------------------------------------------------------------
  const proto = hdr.verProto.trim().toUpperCase();
  if (proto !== 'DM/1.2' && proto !== 'DM/1.1') {
    rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: 513, ...hdrRefs });
    ses.phase = 'failed';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'protocol-error' });
    return finish();
  }

  // --- client authentication ---------------------------------------------------------------
  // Missing or wrong credentials: 407 with a Chal carrying a fresh NextNonce, the same code for every
  // command, no new commands; after `maxAuthFailures` failures 401 and the session is closed. The first
  // success answers 212 with the NextNonce for the next session, later messages 200 (with a rotated
  // NextNonce when every message is authenticated: HMAC or `perMessageAuth`).
  const acc = s.account;
  let hdrCode: number = StatusCode.OK;
  let hdrChal: Chal | undefined;
  const mustAuthenticate = !ses.authenticated || acc.authScheme === 'hmac' || config.perMessageAuth === true;
  if (ses.phase === 'failed') {
    // Too many failures already: keep refusing until the client starts a new session.
    rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: StatusCode.INVALID_CREDENTIALS, ...hdrRefs });
    rb.statusForEach(msg, StatusCode.INVALID_CREDENTIALS);
    sessionComplete = true;
    return finish();
  }
  if (mustAuthenticate) {
    const auth = authenticateClient(s, msg, ctx);
    if (!auth.ok) {
      ses.authFailures += 1;
      const isFinal = ses.authFailures >= maxFailures;
      const code = isFinal ? StatusCode.INVALID_CREDENTIALS : StatusCode.MISSING_CREDENTIALS;
      if (acc.authScheme !== 'basic') acc.clientNonce = newNonce();
      rb.status({ msgRef, cmdRef: '0', cmdName: 'SyncHdr', code, chal: buildChal(acc.authScheme, acc.clientNonce), ...hdrRefs });
      rb.statusForEach(msg, code);
      events.push({
        type: 'authFailed',
        sessionId: ses.sessionId,
        attempts: ses.authFailures,
        final: isFinal,
        reason: auth.reason,
      });
      if (isFinal) {
        ses.phase = 'failed';
        sessionComplete = true;
        events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'auth-failed' });
      } else if (!ses.authenticated) {
        ses.phase = 'auth';
      }
      return finish();
    }
    hdrCode = ses.authenticated ? StatusCode.OK : StatusCode.AUTHENTICATION_ACCEPTED;
    if (acc.authScheme !== 'basic') {
      acc.clientNonce = newNonce();
      hdrChal = buildChal(acc.authScheme, acc.clientNonce);
    }
    if (!ses.authenticated) {
      ses.authenticated = true;
      ses.authFailures = 0;
      ses.phase = 'open';
      events.push({ type: 'authenticated', sessionId: ses.sessionId, scheme: auth.scheme });
      // The first authenticated session of a device confirms its bootstrap (M2).
      if (!s.bootstrapped) {
        s.bootstrapped = true;
        events.push({ type: 'bootstrapConfirmed', deviceId: s.deviceId ?? deviceUri });
      }
    }
  }
  const hdrStatus: Parameters<ReplyBuilder['status']>[0] = { msgRef, cmdRef: '0', cmdName: 'SyncHdr', code: hdrCode, ...hdrRefs };
  if (hdrChal) hdrStatus.chal = hdrChal;
  rb.status(hdrStatus);

  // --- statuses the client sent for the server's previous message(s) -----------------------
  applyClientStatuses(s, ses, msg, events);

  // --- the client's commands ---------------------------------------------------------------
  const { aborted } = answerClientCommands(s, ses, msg, rb, events);

  if (aborted) {
    ses.phase = 'aborted';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'aborted-by-client' });
    return finish();
  }

  const asksForMore = msg.commands.some((c) => c.cmd === 'Alert' && c.code === AlertCode.NEXT_MESSAGE);
  if (ses.pending && (asksForMore || msg.final)) {
    // The server's package continues: its next message (finish() sends the pending commands).
    continuePackage = true;
    return finish();
  }

  if (!msg.final) {
    // The client's package continues: ask for the next message, send nothing new, no Final.
    rb.push({ cmd: 'Alert', cmdId: rb.nextId(), code: AlertCode.NEXT_MESSAGE, items: [] });
    final = false;
    return finish();
  }

  // The client's package is complete (Final): anything sent and still unanswered will not be
  // answered. New commands go out now; a reply without new commands ends the session.
  const unanswered = ses.outstanding.filter((o) => o.msgId !== serverMsgId && o.msgId !== PENDING_MSG_ID);
  ses.outstanding = ses.outstanding.filter((o) => !unanswered.includes(o));
  for (const _ of unanswered) failInstall(s, events, StatusCode.COMMAND_FAILED, 'no-status');

  const next = nextInstallCommands(s, ses, serverMsgId, rb);
  const maxObj = ses.clientMaxObjSize;
  if (maxObj !== undefined && next.some((c) => 'items' in c && c.items.some((i) => itemDataSize(i) > maxObj))) {
    // An object the client cannot take (larger than its MaxObjSize) must not be sent at all.
    ses.outstanding = ses.outstanding.filter((o) => o.msgId !== serverMsgId);
    failInstall(s, events, StatusCode.REQUEST_ENTITY_TOO_LARGE, 'object-too-large');
  } else {
    for (const c of next) rb.push(c);
  }
  const serverCredDue = acc.serverPassword !== undefined && acc.authScheme !== 'hmac' && !ses.serverAuthenticated;
  const nothingToSend = !rb.commands.some((c) => c.cmd !== 'Status');
  if (nothingToSend && serverCredDue && (ses.serverCredSent ?? 0) < MAX_SERVER_CRED_ATTEMPTS) {
    // Nothing left to do, but the client has not given its verdict on the server's credentials yet:
    // one more exchange (a Get it answers cheaply) so that its Status (212 + NextNonce) comes back.
    rb.push({ cmd: 'Get', cmdId: rb.nextId(), items: [{ target: { locURI: './DevInfo/DevId' } }] });
  } else if (nothingToSend) {
    ses.phase = 'ended';
    sessionComplete = true;
    events.push({ type: 'sessionEnded', sessionId: ses.sessionId, reason: 'completed' });
  }
  return finish();
}
