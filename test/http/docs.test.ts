import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DOCS_CSP } from '../../src/http/docs/docs-routes.ts';
import { expectMatchesOpenApi, OPENAPI_FILE } from '../helpers/openapi.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

/** Every URL the page's markup refers to (src and href attributes). */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

describe('GET /docs and GET /openapi.yaml', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(async () => t.stop());

  it('DOC-01 serves the page under its own policy, referring only to same-origin assets that are served', async () => {
    const page = await t.agent.get('/docs');
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type']!, /^text\/html; charset=utf-8/);
    assert.equal(page.headers['content-security-policy'], DOCS_CSP);
    expectMatchesOpenApi(page, 'GET', '/docs');
    const urls = referencedUrls(page.text);
    assert.ok(urls.length >= 4, urls.join(' '));
    for (const url of urls) {
      // Same origin: an absolute path, never a scheme or a protocol-relative host.
      assert.match(url, /^\/(?!\/)/, `${url} is not a same-origin path`);
      const res = await t.agent.get(url);
      assert.equal(res.status, 200, url);
      if (url.startsWith('/docs/assets/')) {
        assert.equal(res.headers['content-security-policy'], DOCS_CSP);
        assert.equal(res.headers['cache-control'], 'public, max-age=86400');
        expectMatchesOpenApi({ ...res, body: res.text ?? res.body }, 'GET', '/docs/assets/{name}');
      }
    }
    assert.ok(urls.includes('/docs/assets/swagger-ui-bundle.js') && urls.includes('/docs/assets/init.js') && urls.includes('/docs/assets/swagger-ui.css'));
    // Nothing inline that the policy would block: no script without src, no style element or attribute, no handler.
    assert.equal([...page.text.matchAll(/<script(?![^>]*\ssrc=)[^>]*>/g)].length, 0, 'an inline script');
    assert.doesNotMatch(page.text, /<style|\sstyle=|\son[a-z]+=/i);
  });

  it('DOC-02 the assets are the pinned swagger-ui-dist files, and the page loads /openapi.yaml', async () => {
    const dist = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    const bundle = await t.agent.get('/docs/assets/swagger-ui-bundle.js').buffer(true);
    assert.match(bundle.headers['content-type']!, /^text\/javascript/);
    assert.ok(Buffer.from(bundle.text).equals(readFileSync(path.join(dist, 'swagger-ui-bundle.js'))));
    const css = await t.agent.get('/docs/assets/swagger-ui.css');
    assert.match(css.headers['content-type']!, /^text\/css/);
    // img-src 'self' data: — the stylesheet refers to nothing else.
    for (const [, url] of css.text.matchAll(/url\(\s*["']?([^"')]+)/g)) assert.match(url!, /^data:/, url);
    const init = await t.agent.get('/docs/assets/init.js');
    assert.match(init.text, /url: '\/openapi\.yaml'/);
    assert.match(init.text, /validatorUrl: 'none'/, 'no badge fetched from an outside validator');
    // Only the listed files: the package's demo page (inline script, petstore URL) is not reachable.
    for (const other of ['index.html', 'swagger-initializer.js', 'package.json', '..%2Fpackage.json', 'swagger-ui-bundle.js.map']) {
      const res = await t.agent.get(`/docs/assets/${other}`);
      assert.equal(res.status, 404, other);
      expectMatchesOpenApi(res, 'GET', '/docs/assets/{name}');
    }
  });

  it('DOC-03 serves openapi.yaml as committed, its servers naming this deployment, and documents both routes', async () => {
    const res = await t.agent.get('/openapi.yaml').buffer(true).parse((r, done) => {
      let text = '';
      r.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => done(null, text));
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type']!, /^application\/yaml; charset=utf-8/);
    expectMatchesOpenApi({ ...res, body: res.body as string, text: res.body as string }, 'GET', '/openapi.yaml');
    const served = parseYaml(res.body as string) as Record<string, unknown>;
    const committed = parseYaml(readFileSync(OPENAPI_FILE, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(served.servers, [{ url: t.config.issuer, description: 'This deployment (ISSUER)' }]);
    assert.deepEqual({ ...served, servers: undefined }, { ...committed, servers: undefined });
    const paths = served.paths as Record<string, unknown>;
    for (const p of ['/docs', '/docs/assets/{name}', '/openapi.yaml']) assert.ok(paths[p], p);
  });

  it('DOC-04 answers other methods with 405 and Allow', async () => {
    for (const url of ['/docs', '/openapi.yaml']) {
      const res = await t.agent.post(url).send('x');
      assert.equal(res.status, 405, url);
      assert.equal(res.headers.allow, 'GET, HEAD');
      expectMatchesOpenApi(res, 'POST', url);
    }
  });
});
