import assert from 'node:assert/strict';
import { BOOTSTRAP_SECRET, type TestService } from './start-app.ts';

export type KeyInfo = {
  kid: string; alg: string; state: string; created_at: string;
  activated_at?: string | null; retired_at?: string | null; expires_at?: string | null; revoked_at?: string | null;
};

/** A fresh admin token: the bootstrap admin's cached one expires once a test moves the clock. */
export async function adminBearer(t: TestService): Promise<string> {
  return `Bearer ${await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET)}`;
}

/** GET /admin/keys as the bootstrap admin. */
export async function listKeys(t: TestService): Promise<KeyInfo[]> {
  const res = await t.agent.get('/admin/keys').set('authorization', await adminBearer(t));
  assert.equal(res.status, 200, res.text);
  return res.body.items;
}
