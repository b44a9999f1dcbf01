/**
 * `GET /api/v1/me` (role viewer): the admin key a request carries — its name and role — so that a
 * client (the console at `/`) shows only what that role may do; and where the Temporal UI is.
 * Nothing secret: never the key itself.
 */
import { Router } from 'express';
import type { ApiContext } from '../context';
import { principalOf } from './admin-auth';

export function meRoutes({ config }: ApiContext): Router {
  const r = Router();
  r.get('/me', (req, res) => {
    const p = principalOf(req);
    res.json({
      keyId: p.keyId,
      name: p.keyName,
      role: p.role,
      temporal: {
        namespace: config.temporalNamespace,
        // TEMPORAL_UI_URL (a cluster's UI), else the embedded dev server's (TEMPORAL_UI_PORT) on the host
        // the caller reached the API by
        uiUrl: config.temporalUiUrl ?? `${req.protocol}://${req.hostname}:${config.temporalUiPort}`,
      },
    });
  });
  return r;
}
