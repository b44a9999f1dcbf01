/**
 * The server's reply in a DM session (OMA-TS-DM_Protocol 1.2): the commands it collects, its SyncHdr
 * (with the server's own credentials, APPSRV, until the client accepted them) and, with HMAC, the
 * signature of its body (x-syncml-hmac).
 */
import { buildCred, computeHmacMac, decodeNonce, formatHmacHeader, HMAC_HEADER } from './dm-auth';
import type { DmAccountState, DmEncoding, DmHandleContext, DmSessionState } from './session-model';
import {
  type Chal,
  type DmCommand,
  type StatusCommand,
  SYNCML_DM_WBXML_CONTENT_TYPE,
  SYNCML_DM_XML_CONTENT_TYPE,
  SYNCML_NAMESPACE_1_2,
  type SyncHdr,
  type SyncMLMessage,
  serializeSyncML,
  VER_DTD_1_2,
  VER_PROTO_DM_1_2,
} from './syncml';
import { encodeSyncMLWbxml } from './syncml-wbxml';

/** The commands of one reply, numbered as they are added. */
export class ReplyBuilder {
  private cmdId = 0;
  readonly commands: DmCommand[] = [];
  nextId(): string {
    this.cmdId += 1;
    return String(this.cmdId);
  }
  status(p: {
    msgRef: string;
    cmdRef: string;
    cmdName: string;
    code: number;
    chal?: Chal;
    targetRefs?: string[];
    sourceRefs?: string[];
  }): StatusCommand {
    const st: StatusCommand = {
      cmd: 'Status',
      cmdId: this.nextId(),
      msgRef: p.msgRef,
      cmdRef: p.cmdRef,
      cmdName: p.cmdName,
      targetRefs: p.targetRefs ?? [],
      sourceRefs: p.sourceRefs ?? [],
      code: p.code,
      items: [],
    };
    if (p.chal) st.chal = p.chal;
    this.commands.push(st);
    return st;
  }
  /** The same status for every client command that expects one (none for Status, Results, NoResp). */
  statusForEach(msg: SyncMLMessage, code: number): void {
    for (const c of msg.commands) {
      if (wantsStatus(c)) this.status({ msgRef: msg.header.msgId, cmdRef: cmdRefOf(c), cmdName: cmdNameOf(c), code });
    }
  }
  push(c: DmCommand): void {
    this.commands.push(c);
  }
}

export function cmdRefOf(c: DmCommand): string {
  return c.cmdId ?? '';
}

function cmdNameOf(c: DmCommand): string {
  return c.cmd === 'Unknown' ? c.element : c.cmd;
}

function wantsStatus(c: DmCommand): boolean {
  if (c.cmd === 'Status' || c.cmd === 'Results') return false;
  return c.cmd === 'Unknown' || !c.noResp;
}

/**
 * The reply's message; the server presents its credentials until the client answered 212, in every
 * message that is not the last of the session (`withServerCred`).
 */
export function buildReplyMessage(
  acc: DmAccountState,
  ses: DmSessionState,
  incoming: SyncMLMessage,
  serverMsgId: string,
  commands: DmCommand[],
  final: boolean,
  ctx: DmHandleContext,
  withServerCred = true,
): SyncMLMessage {
  const ih = incoming.header;
  const is11 = ih.verProto.trim().toUpperCase() === 'DM/1.1';
  const header: SyncHdr = {
    verDTD: is11 ? '1.1' : VER_DTD_1_2,
    verProto: is11 ? 'DM/1.1' : VER_PROTO_DM_1_2,
    sessionId: ih.sessionId,
    msgId: serverMsgId,
    target: { locURI: ih.source.locURI },
    source: { locURI: ctx.config?.serverUri ?? ih.target.locURI },
  };
  if (ctx.respUri !== undefined) header.respURI = ctx.respUri;
  if (withServerCred && acc.serverPassword !== undefined && acc.authScheme !== 'hmac' && !ses.serverAuthenticated) {
    header.cred =
      acc.authScheme === 'basic'
        ? buildCred('basic', acc.serverId, acc.serverPassword)
        : buildCred('md5', acc.serverId, acc.serverPassword, acc.serverNonce ?? '');
  }
  if (ctx.config?.maxMsgSize !== undefined) header.meta = { maxMsgSize: ctx.config.maxMsgSize };
  return {
    namespace: is11 ? 'SYNCML:SYNCML1.1' : SYNCML_NAMESPACE_1_2,
    header,
    commands,
    final,
  };
}

/** The message in the encoding: XML text (UTF-8) or WBXML. */
export function encodeMessage(msg: SyncMLMessage, encoding: DmEncoding): Buffer {
  return encoding === 'wbxml' ? encodeSyncMLWbxml(msg) : Buffer.from(serializeSyncML(msg), 'utf8');
}

/** Response headers of a reply: its content type, and its HMAC signature when the account uses HMAC. */
export function replyHeaders(acc: DmAccountState, body: Buffer, encoding: DmEncoding): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': encoding === 'wbxml' ? SYNCML_DM_WBXML_CONTENT_TYPE : SYNCML_DM_XML_CONTENT_TYPE,
  };
  if (acc.authScheme === 'hmac' && acc.serverPassword !== undefined && acc.serverNonce !== undefined) {
    const mac = computeHmacMac({
      username: acc.serverId,
      password: acc.serverPassword,
      nonce: decodeNonce(acc.serverNonce),
      body,
    });
    headers[HMAC_HEADER] = formatHmacHeader({ username: acc.serverId, mac });
  }
  return headers;
}
