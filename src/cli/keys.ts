// Signing-key administration straight on the database, for an operator without an admin token
// (disaster recovery): `npm run keys -- list | rotate | revoke <kid>`, or in the container image
// `node dist/cli/keys.js …`. It reads the same environment as the service and audits every change.
import { userInfo } from 'node:os';
import { loadConfig } from '../config/load-config.ts';
import { keyInfo } from '../keys/signing-key.ts';
import { runCommand, withContainer } from './run-command.ts';

const USAGE = 'usage: keys list | keys rotate | keys revoke <kid>';

function printKeys(items: ReturnType<typeof keyInfo>[]): void {
  for (const k of items) {
    const times = [`created ${k.createdAt.toISOString()}`, k.activatedAt && `activated ${k.activatedAt.toISOString()}`,
      k.retiredAt && `retired ${k.retiredAt.toISOString()}`, k.expiresAt && `expires ${k.expiresAt.toISOString()}`,
      k.revokedAt && `revoked ${k.revokedAt.toISOString()}`].filter(Boolean).join(', ');
    process.stdout.write(`${k.kid}  ${k.alg.padEnd(5)}  ${k.state.padEnd(7)}  ${times}\n`);
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, kid] = argv;
  if (!command || !['list', 'rotate', 'revoke'].includes(command) || (command === 'revoke') !== (kid !== undefined)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const ctx = { requestId: `cli-${process.pid}`, sourceAddress: undefined, actor: `cli:${userInfo().username}` };
  return withContainer(loadConfig(), async (container) => {
    await container.keys.load();
    if (command === 'rotate') await container.keys.rotate(ctx);
    if (command === 'revoke') await container.keys.revoke(kid!, ctx);
    printKeys(container.keys.list());
    return 0;
  });
}

runCommand('keys', run);
