import { clientCredentialsGrant } from './client-credentials.ts';
import type { GrantHandler } from './grant-handler.ts';

/** Supported grants; grant_types_supported and the admin API's grant_types come from here. */
export const grantHandlers: readonly GrantHandler[] = [clientCredentialsGrant];
