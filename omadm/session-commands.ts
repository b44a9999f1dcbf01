/**
 * What a client message carries besides its SyncHdr (OMA-TS-DM_Protocol 1.2 §8, DM_RepPro 1.2): the
 * statuses for the server's commands, and the client's own commands with the Status each one gets.
 */
import { handleGenericAlert, handleServerCommandStatus, requeueRejected } from './scomo';
import type { DmDeviceState, DmEvent, DmSessionState } from './session-model';
import { cmdRefOf, type ReplyBuilder } from './session-reply';
import { AlertCode, normalizeAlertType, StatusCode, type StatusCommand, type SyncMLMessage } from './syncml';

/**
 * The client's statuses for the server's previous message(s). A SyncHdr status carries the client's
 * verdict on the server's credentials (212 accepted; 401/407 refused, so nothing in that message was
 * executed and its commands are sent again) and the NextNonce for them.
 */
export function applyClientStatuses(s: DmDeviceState, ses: DmSessionState, msg: SyncMLMessage, events: DmEvent[]): void {
  const acc = s.account;
  const clientStatuses = msg.commands.filter((c): c is StatusCommand => c.cmd === 'Status');
  const rejectedMsgs = new Set<string>();
  for (const st of clientStatuses) {
    if (st.cmdRef !== '0' || st.cmdName !== 'SyncHdr') continue;
    const nonce = st.chal?.meta.nextNonce;
    if (nonce !== undefined && nonce !== '') acc.serverNonce = nonce;
    if (st.code === StatusCode.AUTHENTICATION_ACCEPTED) ses.serverAuthenticated = true;
    if (st.code === StatusCode.INVALID_CREDENTIALS || st.code === StatusCode.MISSING_CREDENTIALS) {
      ses.serverAuthenticated = false;
      rejectedMsgs.add(st.msgRef);
      requeueRejected(s, ses, st.msgRef);
      events.push({ type: 'serverAuthRejected', code: st.code });
    }
  }
  for (const st of clientStatuses) {
    if (st.cmdRef === '0' && st.cmdName === 'SyncHdr') continue;
    if (rejectedMsgs.has(st.msgRef)) continue;
    handleServerCommandStatus(s, ses, st, events);
  }
}

const KNOWN_CLIENT_ALERTS: ReadonlySet<number> = new Set([
  AlertCode.SERVER_INITIATED_MGMT,
  AlertCode.CLIENT_INITIATED_MGMT,
  AlertCode.NEXT_MESSAGE,
  AlertCode.SESSION_ABORT,
  AlertCode.CLIENT_EVENT,
  AlertCode.GENERIC_ALERT,
]);

/**
 * Answers the client's commands: Alert 1200/1201/1222/1223/1224/1226 → 200, other alert codes → 406;
 * Replace of ./DevInfo/* → 200, of other nodes → 404; commands a client must not send (Add, Get,
 * Exec, …) → 405; elements that are no DM command → 400. None for Status and Results, none with NoResp.
 * Returns whether the client aborted the session (Alert 1223).
 */
export function answerClientCommands(
  s: DmDeviceState,
  ses: DmSessionState,
  msg: SyncMLMessage,
  rb: ReplyBuilder,
  events: DmEvent[],
): { aborted: boolean } {
  const msgRef = msg.header.msgId;
  let aborted = false;
  for (const c of msg.commands) {
    switch (c.cmd) {
      case 'Status':
        break;
      case 'Results': {
        const ev: DmEvent = { type: 'results', cmdRef: c.cmdRef, items: c.items };
        if (c.msgRef !== undefined) ev.msgRef = c.msgRef;
        events.push(ev);
        break;
      }
      case 'Alert': {
        let code: number = StatusCode.OK;
        if (!KNOWN_CLIENT_ALERTS.has(c.code)) code = StatusCode.OPTIONAL_FEATURE_NOT_SUPPORTED;
        else if (c.code === AlertCode.SERVER_INITIATED_MGMT || c.code === AlertCode.CLIENT_INITIATED_MGMT)
          ses.initiationAlert = c.code;
        else if (c.code === AlertCode.SESSION_ABORT) aborted = true;
        else if (c.code === AlertCode.GENERIC_ALERT) code = handleGenericAlert(s, c, events);
        else if (c.code === AlertCode.CLIENT_EVENT) {
          for (const item of c.items) {
            const ev: DmEvent = { type: 'clientEvent' };
            const t = normalizeAlertType(item.meta?.type);
            if (t !== undefined) ev.alertType = t;
            if (item.data !== undefined) ev.data = item.data;
            events.push(ev);
          }
        }
        if (!c.noResp) rb.status({ msgRef, cmdRef: c.cmdId, cmdName: 'Alert', code });
        break;
      }
      case 'Replace': {
        const devInfo: Record<string, string> = {};
        const perItem: { uri: string; ok: boolean }[] = [];
        for (const item of c.items) {
          const uri = item.source?.locURI ?? item.target?.locURI ?? '';
          const m = /^\.\/DevInfo\/(.+)$/.exec(uri);
          if (m) devInfo[m[1] as string] = item.data ?? '';
          perItem.push({ uri, ok: m !== null });
        }
        if (Object.keys(devInfo).length > 0) {
          s.devInfo = { ...(s.devInfo ?? {}), ...devInfo };
          events.push({ type: 'devInfo', devInfo });
        }
        if (c.noResp) break;
        if (perItem.every((p) => p.ok)) {
          rb.status({ msgRef, cmdRef: c.cmdId, cmdName: 'Replace', code: StatusCode.OK });
        } else {
          for (const p of perItem) {
            rb.status({
              msgRef,
              cmdRef: c.cmdId,
              cmdName: 'Replace',
              code: p.ok ? StatusCode.OK : StatusCode.NOT_FOUND,
              sourceRefs: [p.uri],
            });
          }
        }
        break;
      }
      case 'Unknown':
        rb.status({ msgRef, cmdRef: cmdRefOf(c), cmdName: c.element, code: StatusCode.BAD_REQUEST });
        break;
      default:
        // Add, Delete, Get, Exec, Copy, Atomic, Sequence: not for a client to send (DM Protocol §8.3).
        if (!c.noResp) rb.status({ msgRef, cmdRef: c.cmdId, cmdName: c.cmd, code: StatusCode.COMMAND_NOT_ALLOWED });
        break;
    }
  }
  return { aborted };
}
