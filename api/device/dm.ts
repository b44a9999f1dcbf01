/**
 * The OMA DM session endpoint (docs/dm.md): `POST /dm`, `application/vnd.syncml.dm+xml` or
 * `application/vnd.syncml.dm+wbxml`; the reply is in the encoding of the request.
 *
 * Devices authenticate inside SyncML (syncml:auth-md5 on the SyncHdr, or HMAC via `x-syncml-hmac`),
 * never with bearer tokens. Each message is parsed here (malformed → HTTP 400; another media type →
 * 415; too large → 413), handled by services/dm-sessions.ts (the device's DM record locked for
 * the message, the session state machine, the events acted on) and answered with the SyncML reply
 * (HTTP 200; SyncML status codes inside). A signal that cannot be delivered answers 503: the device
 * retransmits the same message. A retransmitted message (same session, MsgID and content) gets the
 * identical cached reply.
 */
import express, { type Request, type Response, Router } from 'express';
import { HMAC_HEADER, parseHmacHeader } from '../../omadm/dm-auth';
import type { DmEncoding, DmEvent } from '../../omadm/session-model';
import {
  parseSyncML,
  SYNCML_DM_WBXML_CONTENT_TYPE,
  SYNCML_DM_XML_CONTENT_TYPE,
  type SyncMLMessage,
  SyncMLParseError,
} from '../../omadm/syncml';
import { decodeSyncMLWbxml } from '../../omadm/syncml-wbxml';
import { type DmSessionDeps, handleDmSessionMessage } from '../../services/dm-sessions';
import { type Signaller, temporalSignaller } from '../../services/signals';
import type { ApiContext } from '../context';
import { ApiError, badRequest } from '../http/errors';

export interface DmEndpointOptions {
  /** How install workflows are signalled (default: the Temporal client of the context). */
  signaller?: Signaller;
  /** Authentication failures tolerated in one session before 401 (default 3). */
  maxAuthFailures?: number;
  /** Nonce source (tests). */
  newNonce?: () => string;
  /** Called after each handled message (tests, diagnostics): never carries secrets. */
  onMessage?: (e: { deviceId?: string; duplicate: boolean; events: DmEvent[]; sessionComplete: boolean }) => void;
}

export function dmRoutes(ctx: ApiContext, opts: DmEndpointOptions = {}): Router {
  const { db, config } = ctx;
  const deps: DmSessionDeps = {
    db,
    signaller: opts.signaller ?? temporalSignaller(ctx.temporal),
    secretKey: config.dm.secretKey,
    dataDir: config.dataDir,
    maxAuthFailures: opts.maxAuthFailures,
    newNonce: opts.newNonce,
  };
  const r = Router();

  /** The encoding of the request (its media type); anything else is 415. */
  const encodingOf = (req: Request): DmEncoding | undefined => {
    const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (type === SYNCML_DM_XML_CONTENT_TYPE) return 'xml';
    if (type === SYNCML_DM_WBXML_CONTENT_TYPE) return 'wbxml';
    return undefined;
  };
  const requireSyncML = (req: Request, _res: Response, next: (err?: unknown) => void) => {
    if (encodingOf(req) === undefined) {
      next(
        new ApiError(
          415,
          'unsupported_media_type',
          `send a SyncML DM message as ${SYNCML_DM_XML_CONTENT_TYPE} or ${SYNCML_DM_WBXML_CONTENT_TYPE}`,
        ),
      );
      return;
    }
    next();
  };

  r.post(
    '/',
    requireSyncML,
    express.raw({ type: () => true, limit: config.dm.maxMessageBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (body.length === 0) throw badRequest('empty SyncML message');
      const encoding = encodingOf(req) ?? 'xml';
      let msg: SyncMLMessage;
      try {
        msg = encoding === 'wbxml' ? decodeSyncMLWbxml(body) : parseSyncML(body);
      } catch (err) {
        if (err instanceof SyncMLParseError) throw badRequest(`not a SyncML DM message: ${err.message}`);
        throw err;
      }
      const hmacHeader = req.header(HMAC_HEADER);
      const username = (hmacHeader ? parseHmacHeader(hmacHeader)?.username : undefined) ?? msg.header.source.locName;
      const outcome = await handleDmSessionMessage(deps, { msg, body, hmacHeader, username, encoding });
      const { result } = outcome;
      opts.onMessage?.({
        ...(outcome.deviceId ? { deviceId: outcome.deviceId } : {}),
        duplicate: result.duplicate,
        events: result.events,
        sessionComplete: result.sessionComplete,
      });
      // setHeader, not set(): express would add "; charset=utf-8" to the content type of binary WBXML
      for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
      res.status(200).set('Cache-Control', 'no-store').end(result.replyBody);
    },
  );

  r.all('/', (_req, res) => {
    res.set('Allow', 'POST');
    throw new ApiError(
      405,
      'method_not_allowed',
      `the OMA DM endpoint takes POST ${SYNCML_DM_XML_CONTENT_TYPE} or ${SYNCML_DM_WBXML_CONTENT_TYPE}`,
    );
  });

  return r;
}
