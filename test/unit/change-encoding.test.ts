import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeChange, encodeChange, type Change } from '../../src/changes/change-feed.ts';

it('encodes every kind of change for a text channel and decodes it back; unknown text is ignored', () => {
  const changes: Change[] = [{ kind: 'client', clientId: 'orders:v2@shop' }, { kind: 'keys' }, { kind: 'issuers' }];
  for (const change of changes) assert.deepEqual(decodeChange(encodeChange(change)), change);
  assert.equal(encodeChange({ kind: 'issuers' }), 'i');
  // An instance of a later version may send a kind this one does not know (a rolling upgrade).
  for (const text of ['', 'c ', 'x', 'i ', 'issuers', 'K']) assert.equal(decodeChange(text), undefined, JSON.stringify(text));
});
