import { Command } from 'commander';
import type { Act } from '../cli-context.ts';
import { serviceConfig } from '../service-config.ts';

/** `onServe` is told first: the service keeps the process running, so nothing may exit it afterwards. */
export function serveCommand(onServe: () => void): Command {
  return new Command('serve')
    .description('run the service (the same as `npm start` without the build): configuration from the environment, see the README')
    .action(async () => {
      onServe();
      // main.ts is the service's entry point; importing it starts the service exactly as `node dist/main.js` does.
      await import('../../main.ts');
    });
}

export function migrateCommand(act: Act): Command {
  return new Command('migrate')
    .description('apply the database migrations DATABASE_URL has not seen yet (the service also does this at start-up)')
    .action(act(async (ctx) => {
      const { applyMigrations } = await import('../../persistence/migrations.ts');
      const applied = await applyMigrations((await serviceConfig()).database);
      ctx.out.result({ applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date'));
    }));
}

export function adminCommand(act: Act): Command {
  const admin = new Command('admin').description('recovery straight on the database, with the service\'s environment (no admin token needed)');
  admin.command('reset-secret').argument('[client_id]', 'default: BOOTSTRAP_ADMIN_CLIENT_ID')
    .description('give an admin client a new secret (printed once, alone on stdout), enable it and restore the bootstrap admin\'s scopes; audited as cli:<user>')
    .action(act(async (ctx, clientId: string | undefined) => {
      const { describeReset, resetSecretOnDatabase } = await import('../admin.ts');
      const result = await resetSecretOnDatabase(await serviceConfig(), clientId, (text) => ctx.out.warn(text));
      ctx.out.note(`client "${result.clientId}" ${describeReset(result)}; every earlier secret has stopped working. Its new secret, shown only this once:`);
      ctx.out.result({ client_id: result.clientId, client_secret: result.secret, created: result.created, restored: result.restored }, () => result.secret);
    }));
  return admin;
}
