import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Router, type Response } from 'express';
import { projectRoot } from '../../persistence/prisma-schema.ts';
import { methodNotAllowedJson } from '../middleware/method-not-allowed-json.ts';

/**
 * The page's own policy, replacing the API's `default-src 'none'` on these routes only: scripts,
 * styles, images and requests from this origin alone (no CDN, no inline script or style, no eval);
 * `data:` images for the icons Swagger UI inlines in its stylesheet.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The files of swagger-ui-dist the page uses; nothing else of the package is reachable. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/** Starts Swagger UI on /openapi.yaml: a file of its own, since the policy allows no inline script. */
const INIT_SCRIPT = `window.addEventListener('DOMContentLoaded', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.yaml',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: 'none',
    tryItOutEnabled: false,
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>identity-backend API reference</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"><noscript>This page needs JavaScript; the same reference is <a href="/openapi.yaml">/openapi.yaml</a>.</noscript></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;

/**
 * openapi.yaml as served: the file as committed, with its `servers` list naming this deployment
 * (ISSUER), so the page's requests go to the origin it was loaded from.
 */
export function servedOpenApi(text: string, issuer: string): string {
  const servers = `servers:\n  - url: ${issuer}\n    description: This deployment (ISSUER)\n`;
  const replaced = text.replace(/^servers:\n(?:[ ]+.*\n)*/m, servers);
  if (replaced === text) throw new Error('openapi.yaml has no top-level servers list');
  return replaced;
}

function sendFixed(res: Response, type: string, body: string | Buffer, cacheControl: string): void {
  res.setHeader('Content-Security-Policy', DOCS_CSP);
  res.setHeader('Cache-Control', cacheControl);
  res.type(type).send(body);
}

/**
 * GET /docs, the API reference rendered by Swagger UI from swagger-ui-dist (pinned in package.json)
 * and served from this origin, and GET /openapi.yaml. Everything is read once at start-up: a
 * missing file stops the start instead of failing the first reader.
 */
export function createDocsRouter(deps: { issuer: string }): Router {
  const openapi = servedOpenApi(readFileSync(path.join(projectRoot, 'openapi.yaml'), 'utf8'), deps.issuer);
  const distDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const assets = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(path.join(distDir, name)) }]));
  // The package version in the URL would be the usual cache-buster; a day's max-age is the compromise
  // with plain paths, and an upgrade lands with a restart anyway.
  const ASSET_CACHE = 'public, max-age=86400';
  const router = Router();
  router.get('/docs', (_req, res) => sendFixed(res, 'text/html; charset=utf-8', PAGE, 'no-cache'));
  router.get('/docs/assets/init.js', (_req, res) => sendFixed(res, 'text/javascript; charset=utf-8', INIT_SCRIPT, ASSET_CACHE));
  router.get('/docs/assets/:name', (req, res, next) => {
    const asset = assets.get(req.params.name);
    if (!asset) return next();
    sendFixed(res, asset.type, asset.body, ASSET_CACHE);
  });
  router.get('/openapi.yaml', (_req, res) => sendFixed(res, 'application/yaml; charset=utf-8', openapi, 'no-cache'));
  router.all(['/docs', '/openapi.yaml'], methodNotAllowedJson('GET, HEAD'));
  return router;
}
