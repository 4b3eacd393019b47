import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBasicCredentials } from '../../src/oauth/client-auth/client-secret-basic.ts';
import { InvalidRequest } from '../../src/oauth/errors.ts';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');
/** RFC 6749 Appendix B: application/x-www-form-urlencoded, space as "+". */
const form = (text: string) => encodeURIComponent(text).replace(/%20/g, '+');

function expectMalformed(header: string): void {
  assert.throws(() => parseBasicCredentials(header), (error: unknown) => {
    assert.ok(error instanceof InvalidRequest, String(error));
    assert.equal(error.code, 'invalid_request');
    assert.equal(error.reason, 'malformed_credentials');
    return true;
  });
}

describe('parseBasicCredentials (RFC 6749 §2.3.1)', () => {
  it('reads the client id and secret', () => {
    assert.deepEqual(parseBasicCredentials(`Basic ${b64('c-basic:S1')}`), { clientId: 'c-basic', secret: 'S1' });
  });

  it('treats the scheme name case-insensitively and tolerates extra spaces', () => {
    assert.deepEqual(parseBasicCredentials(`basic ${b64('a:b')}`), { clientId: 'a', secret: 'b' });
    assert.deepEqual(parseBasicCredentials(`BASIC   ${b64('a:b')}`), { clientId: 'a', secret: 'b' });
  });

  it('form-decodes both parts, so ":" "+" "%" and spaces survive', () => {
    const clientId = 'svc:orders+eu 1';
    const secret = 'p@ss:w%rd+ &=/';
    assert.deepEqual(parseBasicCredentials(`Basic ${b64(`${form(clientId)}:${form(secret)}`)}`), { clientId, secret });
  });

  it('splits at the first ":" only, so a raw colon stays in the secret', () => {
    assert.deepEqual(parseBasicCredentials(`Basic ${b64('id:a:b')}`), { clientId: 'id', secret: 'a:b' });
  });

  it('decodes UTF-8, whether percent-encoded or raw', () => {
    assert.deepEqual(parseBasicCredentials(`Basic ${b64('caf%C3%A9:s')}`), { clientId: 'café', secret: 's' });
    assert.deepEqual(parseBasicCredentials(`Basic ${b64('café:s')}`), { clientId: 'café', secret: 's' });
  });

  it('refuses another scheme, a missing value and non-base64 text', () => {
    for (const header of ['Bearer abc', 'Basic', 'Basic ', 'Basicx', 'Basic !!!!', `Basic ${b64('a:b')}!`, `Basic ${b64('a:b').slice(1)}`, `Basic ${b64('a:b')} extra`]) {
      expectMalformed(header);
    }
  });

  it('refuses credentials without a ":" or with an empty part', () => {
    for (const decoded of ['nocolon', ':secret', 'id:', ':']) expectMalformed(`Basic ${b64(decoded)}`);
  });

  it('refuses bytes that are not UTF-8 and broken percent-encoding', () => {
    expectMalformed(`Basic ${b64(Buffer.from([0x69, 0x64, 0x3a, 0xff, 0xfe]))}`);
    expectMalformed(`Basic ${b64('id:%zz')}`);
    expectMalformed(`Basic ${b64('id:%ED%A0%80')}`);
    expectMalformed(`Basic ${b64('%C0%AF:s')}`);
  });
});
