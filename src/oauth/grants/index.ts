import { clientCredentialsGrant } from './client-credentials.ts';
import type { GrantHandler } from './grant-handler.ts';
import { createJwtBearerGrant, type JwtBearerDeps } from './jwt-bearer.ts';
import { createTokenExchangeGrant, type TokenExchangeDeps } from './token-exchange.ts';

export type GrantDeps = { tokenExchange: TokenExchangeDeps; jwtBearer: JwtBearerDeps };

/**
 * The supported grants, built once at start-up from their dependencies. This list is the one source
 * of grant_types_supported (discovery), the admin API's grant_types values and the parameters the
 * token body parser lets repeat.
 */
export function createGrantHandlers(deps: GrantDeps): readonly GrantHandler[] {
  return [clientCredentialsGrant, createTokenExchangeGrant(deps.tokenExchange), createJwtBearerGrant(deps.jwtBearer)];
}

