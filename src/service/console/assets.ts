import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const WEB = path.join(import.meta.dirname, 'web');

/** Bare module names the browser code imports, mapped to files served from node_modules (no build step). */
const VENDOR: Record<string, { specifier: string; url: string }> = {
  preact: { specifier: 'preact', url: '/console/vendor/preact.mjs' },
  hooks: { specifier: 'preact/hooks', url: '/console/vendor/hooks.mjs' },
  htm: { specifier: 'htm', url: '/console/vendor/htm.mjs' },
};

const IMPORT_MAP = JSON.stringify({
  imports: Object.fromEntries(Object.values(VENDOR).map((v) => [v.specifier, v.url])),
});

/** The import map is the page's only inline script; the policy allows it by its hash and nothing else inline. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${createHash('sha256').update(IMPORT_MAP).digest('base64')}'`,
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const INDEX = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>outpost console</title>
<link rel="stylesheet" href="/console/style.css">
<script type="importmap">${IMPORT_MAP}</script>
${Object.values(VENDOR)
  .map((v) => `<link rel="modulepreload" href="${v.url}">\n`)
  .join('')}<script type="module" src="/console/app.js"></script>
</head>
<body>
<div id="app"><noscript>The outpost console needs JavaScript.</noscript></div>
</body>
</html>
`;

function asset(body: Buffer | string, type: string): Asset {
  const buffer = Buffer.from(body);
  return {
    body: buffer,
    type,
    etag: `"${createHash('sha256').update(buffer).digest('base64url').slice(0, 27)}"`,
  };
}

/** Every file the console serves, read once at start: the page, its code and the vendored modules. */
export function loadAssets(): Map<string, Asset> {
  const js = 'text/javascript; charset=utf-8';
  const assets = new Map<string, Asset>([
    ['/', asset(INDEX, 'text/html; charset=utf-8')],
    ['/console/app.js', asset(readFileSync(path.join(WEB, 'app.js')), js)],
    ['/console/style.css', asset(readFileSync(path.join(WEB, 'style.css')), 'text/css; charset=utf-8')],
  ]);
  for (const { specifier, url } of Object.values(VENDOR)) {
    assets.set(url, asset(readFileSync(fileURLToPath(import.meta.resolve(specifier))), js));
  }
  return assets;
}

export function serveAsset(req: IncomingMessage, res: ServerResponse, file: Asset): void {
  const headers = {
    'Content-Type': file.type,
    ETag: file.etag,
    'Cache-Control': 'no-cache',
    ...SECURITY_HEADERS,
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    return void res.end();
  }
  res.writeHead(200, { ...headers, 'Content-Length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}

export const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};
