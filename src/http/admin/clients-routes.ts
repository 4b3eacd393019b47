import { Router, type Request } from 'express';
import { CLIENT_ID_PATTERN } from '../../clients/client-metadata-schema.ts';
import type { ClientService } from '../../clients/client-service.ts';
import type { RevocationService } from '../../tokens/revocation-service.ts';
import { NotFound } from '../../shared/errors.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { pageRequest } from './pagination.ts';
import { clientRepresentation } from './representations.ts';
import { adminContext, type RequireAdminScope } from './require-admin-scope.ts';

/** An id no client can have (wrong characters, too long, a NUL PostgreSQL cannot even compare) is a 404 without a lookup. */
function clientIdParam(req: Request): string {
  const id = req.params.client_id as string;
  if (!CLIENT_ID_PATTERN.test(id)) throw new NotFound('no such client');
  return id;
}

export function createClientsRouter(deps: { clients: ClientService; revocations: RevocationService; requireScope: RequireAdminScope }): Router {
  const router = Router();
  const auth = deps.requireScope('admin:clients');

  router.route('/clients')
    .post(auth, async (req, res) => {
      const { client, secret } = await deps.clients.register(req.body, adminContext(res));
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Location', `${req.baseUrl}/clients/${encodeURIComponent(client.clientId)}`);
      res.status(201).json({
        ...clientRepresentation(client),
        ...(secret !== undefined && { client_secret: secret, client_secret_expires_at: 0 }),
      });
    })
    .get(auth, async (req, res) => {
      const page = await deps.clients.list(pageRequest(req));
      res.json({ items: page.items.map(clientRepresentation), next_cursor: page.nextCursor });
    })
    .all(methodNotAllowed('GET, POST'));

  router.route('/clients/:client_id')
    .get(auth, async (req, res) => {
      res.json(clientRepresentation(await deps.clients.get(clientIdParam(req))));
    })
    .patch(auth, async (req, res) => {
      const { client, secret } = await deps.clients.update(clientIdParam(req), req.body, adminContext(res));
      // A switch to a secret method issues a secret, shown this once (as at registration).
      if (secret !== undefined) res.setHeader('Cache-Control', 'no-store');
      res.json({ ...clientRepresentation(client), ...(secret !== undefined && { client_secret: secret, client_secret_expires_at: 0 }) });
    })
    .delete(auth, async (req, res) => {
      await deps.clients.delete(clientIdParam(req), adminContext(res));
      res.status(204).end();
    })
    .all(methodNotAllowed('GET, PATCH, DELETE'));

  router.route('/clients/:client_id/secret')
    .post(auth, async (req, res) => {
      const clientId = clientIdParam(req);
      const rotated = await deps.clients.rotateSecret(clientId, req.body, adminContext(res));
      res.setHeader('Cache-Control', 'no-store');
      res.json({
        client_id: clientId,
        client_secret: rotated.secret,
        previous_secret_expires_at: rotated.previousExpiresAt?.toISOString() ?? null,
      });
    })
    .all(methodNotAllowed('POST'));

  // RFC 7009 from the admin side: every token of the client issued before issued_before (default now).
  router.route('/clients/:client_id/revoke-tokens')
    .post(auth, async (req, res) => {
      const clientId = clientIdParam(req);
      const inForce = await deps.revocations.revokeClientTokens(clientId, req.body, adminContext(res));
      res.json({
        client_id: clientId,
        issued_before: inForce.issuedBefore.toISOString(),
        expires_at: inForce.expiresAt.toISOString(),
      });
    })
    .all(methodNotAllowed('POST'));
  return router;
}
