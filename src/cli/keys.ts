// Signing-key administration straight on the database, for an operator without an admin token
// (disaster recovery): `identity-backend keys list | rotate | revoke <kid> | rewrap | kek-status
// --database`; also still `npm run keys -- …` and, in the container image, `node dist/cli/keys.js …`.
// It reads the same environment as the service and audits every change.
import { userInfo } from 'node:os';
import { loadConfig, type Config } from '../config/load-config.ts';
import { reportKeyEncryptionKeyUse, rewrapSigningKeys, type KekReport, type KekRewrapResult } from '../keys/kek-rewrap.ts';
import type { SigningKeyInfo } from '../keys/signing-key.ts';
import { isEntryPoint, runCommand, withContainer } from './run-command.ts';

const USAGE = 'usage: keys list | keys rotate | keys revoke <kid> | keys rewrap [--json] | keys kek-status [--json]';

export type KeysAction = { command: 'list' } | { command: 'rotate' } | { command: 'revoke'; kid: string };

/** `kid  alg  state  created …, activated …`: one line per key, never key material. */
export function keyLine(k: SigningKeyInfo): string {
  const times = [`created ${k.createdAt.toISOString()}`, k.activatedAt && `activated ${k.activatedAt.toISOString()}`,
    k.retiredAt && `retired ${k.retiredAt.toISOString()}`, k.expiresAt && `expires ${k.expiresAt.toISOString()}`,
    k.revokedAt && `revoked ${k.revokedAt.toISOString()}`].filter(Boolean).join(', ');
  return `${k.kid}  ${k.alg.padEnd(5)}  ${k.state.padEnd(7)}  ${times}`;
}

const cliContext = () => ({ requestId: `cli-${process.pid}`, sourceAddress: undefined, actor: `cli:${userInfo().username}` });

/** Runs the action on the configured database, audited as `cli:<user>`; the key set afterwards. */
export async function keysOnDatabase(config: Config, action: KeysAction): Promise<SigningKeyInfo[]> {
  const ctx = cliContext();
  return withContainer(config, async (container) => {
    await container.keys.load();
    if (action.command === 'rotate') await container.keys.rotate(ctx);
    if (action.command === 'revoke') await container.keys.revoke(action.kid, ctx);
    return container.keys.list();
  });
}

export type KekResult = { rewrapped: KekRewrapResult['rewrapped'] | undefined; labelledSecretHashes?: number; report: KekReport };

/** `rewrap` re-seals every private key under the current key-encryption key; both report what each key still protects. */
export async function kekOnDatabase(config: Config, command: 'rewrap' | 'kek-status'): Promise<KekResult> {
  return withContainer(config, async (container) => {
    // No key-set load here: the report matters most when a key cannot be opened.
    const deps = { uow: container.uow, sealer: container.sealer, audit: container.audit, clock: container.clock };
    return command === 'rewrap' ? rewrapSigningKeys(deps, cliContext()) : { rewrapped: undefined, report: await reportKeyEncryptionKeyUse(deps) };
  });
}

/** A script can rely on it: 0 when every stored private key is sealed under a configured key. */
export function kekExitCode(report: KekReport): 0 | 1 {
  return report.unopenableSigningKeys.length || report.keys.some((u) => u.role === 'missing' && u.signingKeys.length) ? 1 : 0;
}

/** The lines `rewrap` and `kek-status` print. */
export function kekResultLines(result: KekResult): string[] {
  const lines = (result.rewrapped ?? []).map((r) => `rewrapped ${r.kid} (kek ${r.from} -> ${result.report.current})`);
  if (result.labelledSecretHashes) {
    lines.push(`labelled ${result.labelledSecretHashes} client secret hashes with kek ${result.report.current} (made before key ids were recorded)`);
  }
  return [...lines, ...kekReportLines(result.report)];
}

/** One line per key-encryption key, then what can be done about what is left. */
export function kekReportLines(report: KekReport): string[] {
  const lines: string[] = [];
  for (const use of report.keys) {
    const role = use.role === 'current' ? 'KEY_ENCRYPTION_KEY' : use.role === 'previous' ? 'KEY_ENCRYPTION_KEYS_PREVIOUS' : 'NOT CONFIGURED';
    const kids = use.signingKeys.length ? ` (${use.signingKeys.join(', ')})` : '';
    lines.push(`kek ${use.kekId}  ${role.padEnd(28)}  signing keys: ${use.signingKeys.length}${kids}  client secret hashes: ${use.secretHashes}`);
  }
  if (report.legacySecretHashes) {
    lines.push(`client secret hashes naming no key (made before key ids): ${report.legacySecretHashes}; each is re-hashed under the current key at its next successful use`);
  }
  if (report.expiredSecretHashes) lines.push(`expired client secret hashes (no longer accepted, need no key): ${report.expiredSecretHashes}`);
  if (report.unopenableSigningKeys.length) lines.push(`signing keys no configured key opens: ${report.unopenableSigningKeys.join(', ')}`);
  for (const use of report.keys.filter((u) => u.role === 'previous')) {
    const left = use.signingKeys.length + use.secretHashes + report.legacySecretHashes;
    lines.push(left === 0
      ? `kek ${use.kekId}: nothing depends on it any more; remove it from KEY_ENCRYPTION_KEYS_PREVIOUS`
      : `kek ${use.kekId}: still needed${use.signingKeys.length ? '; run `keys rewrap`' : ''}${use.secretHashes || report.legacySecretHashes ? '; secrets move at their next use or when rotated' : ''}`);
  }
  return lines;
}

async function run(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const [command, kid, ...rest] = argv.filter((a) => a !== '--json');
  const known = ['list', 'rotate', 'revoke', 'rewrap', 'kek-status'];
  if (!command || !known.includes(command) || (command === 'revoke') !== (kid !== undefined) || rest.length > 0 || (json && !['rewrap', 'kek-status'].includes(command))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'rewrap' || command === 'kek-status') {
    const result = await kekOnDatabase(loadConfig(), command);
    if (json) process.stdout.write(`${JSON.stringify(result.rewrapped ? result : result.report)}\n`);
    else for (const line of kekResultLines(result)) process.stdout.write(`${line}\n`);
    return kekExitCode(result.report);
  }
  const action = (command === 'revoke' ? { command, kid: kid! } : { command }) as KeysAction;
  for (const k of await keysOnDatabase(loadConfig(), action)) process.stdout.write(`${keyLine(k)}\n`);
  return 0;
}

if (isEntryPoint(import.meta.url)) runCommand('keys', run);
