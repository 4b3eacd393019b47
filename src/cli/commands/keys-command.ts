import { Command } from 'commander';
import { keyRepresentation } from '../../http/admin/representations.ts';
import type { SigningKeyInfo } from '../../keys/signing-key.ts';
import type { Act, CliContext } from '../cli-context.ts';
import type { KeysAction } from '../keys.ts';
import { serviceConfig } from '../service-config.ts';

type KeyRepresentation = ReturnType<typeof keyRepresentation>;

const date = (text: string | null) => (text === null ? null : new Date(text));

/** The admin API's key back into the domain's shape, so both paths print the same lines. */
function fromRepresentation(k: KeyRepresentation): SigningKeyInfo {
  return {
    kid: k.kid, alg: k.alg, state: k.state, createdAt: new Date(k.created_at), activatedAt: date(k.activated_at),
    retiredAt: date(k.retired_at), expiresAt: date(k.expires_at), revokedAt: date(k.revoked_at),
  } as SigningKeyInfo;
}

async function throughApi(ctx: CliContext, action: KeysAction): Promise<KeyRepresentation[]> {
  const api = ctx.admin();
  if (action.command === 'rotate') return (await api.call<{ items: KeyRepresentation[] }>('POST', '/admin/keys/rotate')).items;
  if (action.command === 'revoke') await api.call('POST', `/admin/keys/${encodeURIComponent(action.kid)}/revoke`);
  return (await api.call<{ items: KeyRepresentation[] }>('GET', '/admin/keys')).items;
}

/** Every keys command prints the key set afterwards: the same JSON (`{items}`) and lines on both paths. */
async function runKeys(ctx: CliContext, action: KeysAction, database: boolean | undefined): Promise<void> {
  // keys.ts (and the configuration schema it loads) only when used: most commands never need them.
  const { keyLine, keysOnDatabase } = await import('../keys.ts');
  const items = database ? (await keysOnDatabase(await serviceConfig(), action)).map(keyRepresentation) : await throughApi(ctx, action);
  ctx.out.result({ items }, () => items.map((k) => keyLine(fromRepresentation(k))).join('\n'));
}

export function keysCommand(act: Act): Command {
  const keys = new Command('keys')
    .description('signing keys: through the admin API (admin:keys), or with --database straight on the database')
    .option('--database', 'work on DATABASE_URL with the service\'s environment instead (no admin token needed; audited as cli:<user>)');
  keys.command('list').description('the signing keys and their states (never key material)')
    .action(act(async (ctx, _flags: unknown, cmd: Command) => runKeys(ctx, { command: 'list' }, cmd.optsWithGlobals().database)));
  keys.command('rotate').description('promote the next key, retire the active one, pre-publish a new next key')
    .action(act(async (ctx, _flags: unknown, cmd: Command) => runKeys(ctx, { command: 'rotate' }, cmd.optsWithGlobals().database)));
  keys.command('revoke').argument('<kid>').description('withdraw a key at once: it leaves the JWKS and stops signing')
    .action(act(async (ctx, kid: string, _flags: unknown, cmd: Command) => runKeys(ctx, { command: 'revoke', kid }, cmd.optsWithGlobals().database)));
  // Only on the database: sealing is the key-encryption key's business, which the admin API never holds.
  for (const [name, description] of [
    ['rewrap', 're-seal every signing key under KEY_ENCRYPTION_KEY, then report what each key-encryption key still protects (on the database)'],
    ['kek-status', 'what each key-encryption key still protects (on the database); exit code 1 when a signing key is sealed under no configured key'],
  ] as const) {
    keys.command(name).description(description).action(act(async (ctx) => {
      const { kekExitCode, kekOnDatabase, kekResultLines } = await import('../keys.ts');
      const result = await kekOnDatabase(await serviceConfig(), name);
      ctx.out.result(result.rewrapped ? result : result.report, () => kekResultLines(result).join('\n'));
      return kekExitCode(result.report);
    }));
  }
  return keys;
}
