import { Router, type Request } from 'express';
import type { TrustedIssuer } from '../../issuers/trusted-issuer.ts';
import { TRUSTED_ISSUER_ID, type TrustedIssuerService } from '../../issuers/trusted-issuer-service.ts';
import { NotFound, ValidationFailed } from '../../shared/errors.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { pageRequest, queryValue } from './pagination.ts';
import { adminContext, type RequireAdminScope } from './require-admin-scope.ts';

/** A trusted issuer as the admin API shows it; every member always present. */
export function trustedIssuerRepresentation(t: TrustedIssuer) {
  return {
    id: t.id,
    issuer: t.issuer,
    jwks_uri: t.jwksUri,
    jwks: t.jwks,
    audiences: t.audiences,
    algorithms: t.algorithms,
    subject_claim: t.subjectClaim,
    max_token_age: t.maxTokenAge,
    description: t.description,
    disabled: t.disabled,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
  };
}

function idParam(req: Request): string {
  const id = req.params.id as string;
  if (!TRUSTED_ISSUER_ID.test(id)) throw new NotFound('no such trusted issuer');
  return id;
}

/**
 * /admin/trusted-issuers: reads need admin:clients; every write also needs every admin scope,
 * which the service checks (trusting an issuer is as strong as granting identities).
 */
export function createTrustedIssuersRouter(deps: { trustedIssuers: TrustedIssuerService; requireScope: RequireAdminScope }): Router {
  const router = Router();
  const auth = deps.requireScope('admin:clients');

  router.route('/trusted-issuers')
    .post(auth, async (req, res) => {
      const created = await deps.trustedIssuers.register(req.body, adminContext(res));
      res.setHeader('Location', `${req.baseUrl}/trusted-issuers/${created.id}`);
      res.status(201).json(trustedIssuerRepresentation(created));
    })
    .get(auth, async (req, res) => {
      const issuer = queryValue(req, 'issuer');
      if (issuer !== undefined && (issuer === '' || issuer.length > 2048)) throw new ValidationFailed([{ name: 'issuer', reason: 'must be an issuer URL of at most 2048 characters' }]);
      const page = await deps.trustedIssuers.list(pageRequest(req), { issuer });
      res.json({ items: page.items.map(trustedIssuerRepresentation), next_cursor: page.nextCursor });
    })
    .all(methodNotAllowed('GET, POST'));

  router.route('/trusted-issuers/:id')
    .get(auth, async (req, res) => {
      res.json(trustedIssuerRepresentation(await deps.trustedIssuers.get(idParam(req))));
    })
    .patch(auth, async (req, res) => {
      res.json(trustedIssuerRepresentation(await deps.trustedIssuers.update(idParam(req), req.body, adminContext(res))));
    })
    .delete(auth, async (req, res) => {
      await deps.trustedIssuers.delete(idParam(req), adminContext(res));
      res.status(204).end();
    })
    .all(methodNotAllowed('GET, PATCH, DELETE'));
  return router;
}
