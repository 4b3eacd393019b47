// Signing-key administration straight on the database, for an operator without an admin token
// (disaster recovery): `identity-backend keys list|rotate|revoke <kid> --database`; also still
// `node dist/cli/keys.js list | rotate | revoke <kid>`. It reads the same environment as the service
// and audits every change.
import { userInfo } from 'node:os';
import { loadConfig, type Config } from '../config/load-config.ts';
import type { SigningKeyInfo } from '../keys/signing-key.ts';
import { isEntryPoint, runCommand, withContainer } from './run-command.ts';

const USAGE = 'usage: keys list | keys rotate | keys revoke <kid>';

export type KeysAction = { command: 'list' } | { command: 'rotate' } | { command: 'revoke'; kid: string };

/** `kid  alg  state  created …, activated …`: one line per key, never key material. */
export function keyLine(k: SigningKeyInfo): string {
  const times = [`created ${k.createdAt.toISOString()}`, k.activatedAt && `activated ${k.activatedAt.toISOString()}`,
    k.retiredAt && `retired ${k.retiredAt.toISOString()}`, k.expiresAt && `expires ${k.expiresAt.toISOString()}`,
    k.revokedAt && `revoked ${k.revokedAt.toISOString()}`].filter(Boolean).join(', ');
  return `${k.kid}  ${k.alg.padEnd(5)}  ${k.state.padEnd(7)}  ${times}`;
}

/** Runs the action on the configured database, audited as `cli:<user>`; the key set afterwards. */
export async function keysOnDatabase(config: Config, action: KeysAction): Promise<SigningKeyInfo[]> {
  const ctx = { requestId: `cli-${process.pid}`, sourceAddress: undefined, actor: `cli:${userInfo().username}` };
  return withContainer(config, async (container) => {
    await container.keys.load();
    if (action.command === 'rotate') await container.keys.rotate(ctx);
    if (action.command === 'revoke') await container.keys.revoke(action.kid, ctx);
    return container.keys.list();
  });
}

async function run(argv: string[]): Promise<number> {
  const [command, kid] = argv;
  if (!command || !['list', 'rotate', 'revoke'].includes(command) || (command === 'revoke') !== (kid !== undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const action = (command === 'revoke' ? { command, kid: kid! } : { command }) as KeysAction;
  for (const k of await keysOnDatabase(loadConfig(), action)) process.stdout.write(`${keyLine(k)}\n`);
  return 0;
}

if (isEntryPoint(import.meta.url)) runCommand('keys', run);
