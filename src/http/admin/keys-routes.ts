import { Router } from 'express';
import type { KeyService } from '../../keys/key-service.ts';
import type { AdminTokenVerifier } from '../../tokens/admin-token-verifier.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { keyRepresentation } from './representations.ts';
import { requireAdminScope } from './require-admin-scope.ts';

export function createKeysRouter(deps: { keys: KeyService; verify: AdminTokenVerifier }): Router {
  const router = Router();
  router.route('/keys')
    .get(requireAdminScope(deps.verify, 'admin:keys'), (_req, res) => {
      res.json({ items: deps.keys.list().map(keyRepresentation) });
    })
    .all(methodNotAllowed('GET'));
  return router;
}
