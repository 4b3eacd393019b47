// The operator's recovery path when no admin token can be had, straight on the database:
// `identity-backend admin reset-secret [client_id]` (also `npm run admin -- reset-secret` and, in
// the container image, `node dist/cli/admin.js …`). It reads the same environment as the service
// (ISSUER, DATABASE_URL, KEY_ENCRYPTION_KEY), prints the new secret once, and audits every change
// under the operator's name.
import { userInfo } from 'node:os';
import { ADMIN_SCOPES } from '../clients/admin-privilege.ts';
import { createAdminRecovery, type RecoveryResult } from '../clients/admin-recovery.ts';
import { ISSUER_SETTING } from '../clients/issuer-change.ts';
import { loadConfig, type Config } from '../config/load-config.ts';
import { isEntryPoint, runCommand, withContainer } from './run-command.ts';

const USAGE = 'usage: admin reset-secret [client_id]   (default: BOOTSTRAP_ADMIN_CLIENT_ID)';

/**
 * Gives the client (default: the bootstrap admin) a new secret on the database; `warn` hears that
 * the database was set up for another ISSUER.
 */
export async function resetSecretOnDatabase(config: Config, clientIdArg: string | undefined, warn: (text: string) => void): Promise<RecoveryResult> {
  const clientId = clientIdArg ?? config.bootstrapAdmin.clientId;
  return withContainer(config, async (container) => {
    const recorded = await container.settings.get(ISSUER_SETTING);
    if (recorded !== undefined && recorded !== config.issuer) {
      warn(`the database was set up for ISSUER ${recorded}, this environment says ${config.issuer}; the service moves the admin audience when it next starts`);
    }
    const reset = createAdminRecovery({
      uow: container.uow,
      hasher: container.hasher,
      audit: container.audit,
      clock: container.clock,
      config,
    });
    const actor = `cli:${userInfo().username}`;
    return reset(clientId, { requestId: `cli-${process.pid}`, sourceAddress: undefined, actor, actorScopes: ADMIN_SCOPES });
  });
}

/** What happened, for the line printed before the secret. */
export function describeReset(result: RecoveryResult): string {
  return result.created ? 're-created' : result.restored.length ? `reset (restored: ${result.restored.join(', ')})` : 'reset';
}

async function run(argv: string[]): Promise<number> {
  const [command, clientIdArg, ...rest] = argv;
  if (command !== 'reset-secret' || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const result = await resetSecretOnDatabase(loadConfig(), clientIdArg, (text) => process.stderr.write(`admin: warning: ${text}\n`));
  process.stderr.write(`admin: client "${result.clientId}" ${describeReset(result)}; every earlier secret has stopped working. Its new secret, shown only this once:\n`);
  process.stdout.write(`${result.secret}\n`);
  return 0;
}

if (isEntryPoint(import.meta.url)) runCommand('admin', run);
