import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeChange, encodeChange, type Change } from '../../src/changes/change-feed.ts';
import { createRevocationList } from '../../src/tokens/revocation-list.ts';
import type { ClientTokenCutoff, TokenRevocation } from '../../src/tokens/revocation-repository.ts';

describe('revocation changes on the feed', () => {
  it('round-trip through their text form, client ids with spaces included', () => {
    const changes: Change[] = [
      { kind: 'token_revoked', jti: 'AbC-_123', expiresAt: 1_764_590_400 },
      { kind: 'client_tokens_revoked', clientId: 'svc orders:x', issuedBefore: 1_764_590_000, expiresAt: 1_764_593_600 },
      { kind: 'client', clientId: 'c-1' },
      { kind: 'keys' },
    ];
    for (const change of changes) assert.deepEqual(decodeChange(encodeChange(change)), change);
  });

  it('drops malformed messages instead of guessing', () => {
    for (const text of ['r', 'r 12', 'r x jti', 'r 12 a b', 'R 1 2', 'R a 2 c', 'R 1 b c', 'r 1234567890123 j', '']) {
      assert.equal(decodeChange(text), undefined, JSON.stringify(text));
    }
  });
});

describe('revocation list', () => {
  function list(stored: { tokens: TokenRevocation[]; clients: ClientTokenCutoff[] } = { tokens: [], clients: [] }, nowMs = 1_000_000_000) {
    let now = nowMs;
    let loads = 0;
    const revocations = createRevocationList({ load: async () => (loads++, stored), now: () => now });
    return { revocations, stored, setNow: (ms: number) => (now = ms), loads: () => loads };
  }

  it('revokes by jti, and by client for tokens issued before the cut-off only', () => {
    const { revocations } = list();
    const listener = revocations.listener();
    listener.changed({ kind: 'token_revoked', jti: 'j1', expiresAt: 2_000_000 });
    listener.changed({ kind: 'client_tokens_revoked', clientId: 'svc', issuedBefore: 1_000_100, expiresAt: 2_000_000 });
    assert.equal(revocations.isRevoked({ jti: 'j1', client_id: 'other', iat: 1 }), true);
    assert.equal(revocations.isRevoked({ jti: 'j2', client_id: 'svc', iat: 1_000_099 }), true);
    assert.equal(revocations.isRevoked({ jti: 'j2', client_id: 'svc', iat: 1_000_100 }), false, 'issued at the cut-off second or later');
    assert.equal(revocations.isRevoked({ jti: 'j2', client_id: 'other', iat: 1_000_099 }), false);
    assert.equal(revocations.isRevoked({ jti: 5, client_id: ['svc'], iat: '1' }), false, 'claims of the wrong type revoke nothing here');
  });

  it('keeps the later cut-off whatever order the changes arrive in', () => {
    const { revocations } = list();
    const listener = revocations.listener();
    listener.changed({ kind: 'client_tokens_revoked', clientId: 'svc', issuedBefore: 500, expiresAt: 9_000_000 });
    listener.changed({ kind: 'client_tokens_revoked', clientId: 'svc', issuedBefore: 300, expiresAt: 8_000_000 });
    assert.equal(revocations.isRevoked({ client_id: 'svc', iat: 400 }), true);
  });

  it('merges what the database holds on a reset, never dropping what it held', async () => {
    const { revocations, stored } = list({
      tokens: [{ jti: 'from-db', clientId: 'svc', expiresAt: new Date(2_000_000_000) }],
      clients: [{ clientId: 'cut', issuedBefore: new Date(1_000_000_500), expiresAt: new Date(2_000_000_000) }],
    });
    const listener = revocations.listener();
    listener.changed({ kind: 'token_revoked', jti: 'from-feed', expiresAt: 2_000_000 });
    listener.reset(false);
    await revocations.load();
    assert.equal(revocations.isRevoked({ jti: 'from-db' }), true);
    assert.equal(revocations.isRevoked({ jti: 'from-feed' }), true);
    // A cut-off at 1_000_000.5 s: iat 1_000_000 (the same second) is revoked too.
    assert.equal(revocations.isRevoked({ client_id: 'cut', iat: 1_000_000 }), true);
    assert.equal(revocations.isRevoked({ client_id: 'cut', iat: 1_000_001 }), false);
    stored.tokens = [];
    await revocations.refresh();
    assert.equal(revocations.isRevoked({ jti: 'from-db' }), true, 'a record pruned elsewhere is still held until it expires here');
  });

  it('forgets entries once every token they cover has expired', async () => {
    const { revocations, setNow } = list();
    revocations.listener().changed({ kind: 'token_revoked', jti: 'j', expiresAt: 1_000_010 });
    await revocations.refresh();
    assert.equal(revocations.stats().tokens, 1);
    setNow(1_000_011_000);
    await revocations.refresh();
    assert.equal(revocations.stats().tokens, 0);
  });

  it('fails its start-up load when the database cannot be read, and survives a failed refresh', async () => {
    const errors: unknown[] = [];
    const revocations = createRevocationList({ load: () => Promise.reject(new Error('down')), now: () => 0, onError: (e) => errors.push(e) });
    await assert.rejects(revocations.load(), /down/);
    await revocations.refresh();
    assert.equal(errors.length, 1);
  });
});
