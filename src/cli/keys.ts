// Signing-key administration straight on the database, for an operator without an admin token
// (disaster recovery): `npm run keys -- list | rotate | revoke <kid> | rewrap | kek-status`, or in
// the container image `node dist/cli/keys.js …`. It reads the same environment as the service and
// audits every change.
import { userInfo } from 'node:os';
import { loadConfig } from '../config/load-config.ts';
import { reportKeyEncryptionKeyUse, rewrapSigningKeys, type KekReport } from '../keys/kek-rewrap.ts';
import { keyInfo } from '../keys/signing-key.ts';
import { runCommand, withContainer } from './run-command.ts';

const USAGE = 'usage: keys list | keys rotate | keys revoke <kid> | keys rewrap [--json] | keys kek-status [--json]';

function printKeys(items: ReturnType<typeof keyInfo>[]): void {
  for (const k of items) {
    const times = [`created ${k.createdAt.toISOString()}`, k.activatedAt && `activated ${k.activatedAt.toISOString()}`,
      k.retiredAt && `retired ${k.retiredAt.toISOString()}`, k.expiresAt && `expires ${k.expiresAt.toISOString()}`,
      k.revokedAt && `revoked ${k.revokedAt.toISOString()}`].filter(Boolean).join(', ');
    process.stdout.write(`${k.kid}  ${k.alg.padEnd(5)}  ${k.state.padEnd(7)}  ${times}\n`);
  }
}

/** One line per key-encryption key, then what can be done about what is left. */
function printReport(report: KekReport): void {
  for (const use of report.keys) {
    const role = use.role === 'current' ? 'KEY_ENCRYPTION_KEY' : use.role === 'previous' ? 'KEY_ENCRYPTION_KEYS_PREVIOUS' : 'NOT CONFIGURED';
    const kids = use.signingKeys.length ? ` (${use.signingKeys.join(', ')})` : '';
    process.stdout.write(`kek ${use.kekId}  ${role.padEnd(28)}  signing keys: ${use.signingKeys.length}${kids}  client secret hashes: ${use.secretHashes}\n`);
  }
  if (report.legacySecretHashes) {
    process.stdout.write(`client secret hashes naming no key (made before key ids): ${report.legacySecretHashes}; each is re-hashed under the current key at its next successful use\n`);
  }
  if (report.expiredSecretHashes) process.stdout.write(`expired client secret hashes (no longer accepted, need no key): ${report.expiredSecretHashes}\n`);
  if (report.unopenableSigningKeys.length) process.stdout.write(`signing keys no configured key opens: ${report.unopenableSigningKeys.join(', ')}\n`);
  for (const use of report.keys.filter((u) => u.role === 'previous')) {
    const left = use.signingKeys.length + use.secretHashes + report.legacySecretHashes;
    process.stdout.write(left === 0
      ? `kek ${use.kekId}: nothing depends on it any more; remove it from KEY_ENCRYPTION_KEYS_PREVIOUS\n`
      : `kek ${use.kekId}: still needed${use.signingKeys.length ? '; run `keys rewrap`' : ''}${use.secretHashes || report.legacySecretHashes ? '; secrets move at their next use or when rotated' : ''}\n`);
  }
}

async function run(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const [command, kid, ...rest] = argv.filter((a) => a !== '--json');
  const known = ['list', 'rotate', 'revoke', 'rewrap', 'kek-status'];
  if (!command || !known.includes(command) || (command === 'revoke') !== (kid !== undefined) || rest.length > 0 || (json && !['rewrap', 'kek-status'].includes(command))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const ctx = { requestId: `cli-${process.pid}`, sourceAddress: undefined, actor: `cli:${userInfo().username}` };
  return withContainer(loadConfig(), async (container) => {
    // No key-set load here: the report matters most when a key cannot be opened.
    if (command === 'rewrap' || command === 'kek-status') {
      const deps = { uow: container.uow, sealer: container.sealer, audit: container.audit, clock: container.clock };
      const result = command === 'rewrap' ? await rewrapSigningKeys(deps, ctx) : { rewrapped: undefined, report: await reportKeyEncryptionKeyUse(deps) };
      if (json) process.stdout.write(`${JSON.stringify(result.rewrapped ? result : result.report)}\n`);
      else {
        for (const r of result.rewrapped ?? []) process.stdout.write(`rewrapped ${r.kid} (kek ${r.from} -> ${result.report.current})\n`);
        if ('labelledSecretHashes' in result && result.labelledSecretHashes) {
          process.stdout.write(`labelled ${result.labelledSecretHashes} client secret hashes with kek ${result.report.current} (made before key ids were recorded)\n`);
        }
        printReport(result.report);
      }
      // A script can rely on it: 0 when every stored private key is sealed under a configured key.
      return result.report.unopenableSigningKeys.length || result.report.keys.some((u) => u.role === 'missing' && u.signingKeys.length) ? 1 : 0;
    }
    await container.keys.load();
    if (command === 'rotate') await container.keys.rotate(ctx);
    if (command === 'revoke') await container.keys.revoke(kid!, ctx);
    printKeys(container.keys.list());
    return 0;
  });
}

runCommand('keys', run);
