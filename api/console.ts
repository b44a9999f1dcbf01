/**
 * The admin console (issue 16, SPEC U1) served by the API itself: `GET /` is the page,
 * `/console/app.js` the Preact application (console/, bundled by esbuild in memory on first request
 * and cached for the life of the process), `/console/app.css` its style sheet. No CDN, nothing
 * inline: the page's Content-Security-Policy allows only this origin. The console talks to the
 * public admin API only (`Authorization: Bearer <admin key>` from sessionStorage).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { type Response, Router } from 'express';

const SOURCE = path.resolve(__dirname, '..', 'console');

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DeviceRollout console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/app.css">
<script src="/console/app.js" defer></script>
</head>
<body>
<div id="app"><noscript>The DeviceRollout console needs JavaScript.</noscript></div>
</body>
</html>
`;

interface Assets {
  js: string;
  css: string;
}

let assets: Promise<Assets> | undefined;

/** The console's script and style sheet, built once per process (a failed build is retried next time). */
function consoleAssets(): Promise<Assets> {
  assets ??= (async () => {
    const [out, css] = await Promise.all([
      build({
        entryPoints: [path.join(SOURCE, 'main.tsx')],
        tsconfig: path.join(SOURCE, 'tsconfig.json'),
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: 'es2022',
        minify: true,
        jsx: 'automatic',
        jsxImportSource: 'preact',
        legalComments: 'none',
        logLevel: 'silent',
      }),
      readFile(path.join(SOURCE, 'style.css'), 'utf8'),
    ]);
    const js = out.outputFiles[0]?.text;
    if (!js) throw new Error('console bundle: esbuild produced no output');
    return { js, css };
  })();
  assets.catch(() => {
    assets = undefined;
  });
  return assets;
}

function send(res: Response, type: string, body: string): void {
  res.type(type).set('Cache-Control', 'no-cache').set('X-Content-Type-Options', 'nosniff').send(body);
}

export function consoleRoutes(): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    void consoleAssets().catch(() => undefined); // warm the bundle while the browser parses the page
    res.set('Content-Security-Policy', CSP).set('Referrer-Policy', 'no-referrer');
    send(res, 'html', PAGE);
  });
  r.get('/console/app.js', async (_req, res) => {
    send(res, 'js', (await consoleAssets()).js);
  });
  r.get('/console/app.css', async (_req, res) => {
    send(res, 'css', (await consoleAssets()).css);
  });
  return r;
}
