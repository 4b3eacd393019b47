import { Router } from 'express';
import type { KeyService } from '../../keys/key-service.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { keyRepresentation } from './representations.ts';
import { adminContext, type RequireAdminScope } from './require-admin-scope.ts';

export function createKeysRouter(deps: { keys: KeyService; requireScope: RequireAdminScope }): Router {
  const router = Router();
  const auth = deps.requireScope('admin:keys');
  router.route('/keys')
    .get(auth, (_req, res) => {
      res.json({ items: deps.keys.list().map(keyRepresentation) });
    })
    .all(methodNotAllowed('GET'));
  router.route('/keys/rotate')
    .post(auth, async (_req, res) => {
      res.json({ items: (await deps.keys.rotate(adminContext(res))).map(keyRepresentation) });
    })
    .all(methodNotAllowed('POST'));
  router.route('/keys/:kid/revoke')
    .post(auth, async (req, res) => {
      res.json(keyRepresentation(await deps.keys.revoke(String(req.params.kid).slice(0, 200), adminContext(res))));
    })
    .all(methodNotAllowed('POST'));
  return router;
}
