// Returning to applications on another origin after signing in, in a real browser: the
// sign-in page's CSP (form-action 'self') applies to the whole redirect chain of the form's
// POST, so trustplane ends it on a page of its own that moves on. Covers a forward-auth style
// return URL and an OpenID Connect authorization code flow with PKCE (public client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');

const viewport = { width: 1280, height: 900 };
let server;
let browser;
let app;
let appBase;

before(async () => {
  server = await startServer();
  browser = await launch();
  // The "application": another origin (another port) that shows what it was called with.
  app = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>app</title><p id="seen">APP ${req.url}</p>`);
  });
  await new Promise((r) => app.listen(0, '127.0.0.1', r));
  appBase = `http://127.0.0.1:${app.address().port}`;
  server.cli(['admin', 'user', 'create', 'rita', '--display-name', 'Rita', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['apps', 'create', 'demo', '--name', 'Demo app', '--allowed-host', appBase.slice('http://'.length)]);
  server.cli(['oidc', 'clients', 'create', '--name', 'Demo SPA', '--app', 'demo', '--client-id', 'demo-spa',
    '--public', '--redirect-uri', `${appBase}/callback`]);
  server.cli(['oidc', 'clients', 'create', '--name', 'Demo CLI', '--app', 'demo', '--client-id', 'demo-cli',
    '--public', '--grant-type', 'urn:ietf:params:oauth:grant-type:device_code', '--grant-type', 'refresh_token']);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  app?.close();
});

async function signInOnForm(page) {
  await page.fill('#username', 'rita');
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Sign in")');
}

test('a sign-in returns to an application on another origin', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  const next = encodeURIComponent(`${appBase}/landing?x=1`);
  await page.goto(`${server.base}/login?next=${next}&app=demo`);
  await signInOnForm(page);
  await page.waitForURL(`${appBase}/landing?x=1`);
  assert.equal(await page.textContent('#seen'), 'APP /landing?x=1');
  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});

test('an OpenID Connect client gets its code back in a real browser', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    response_type: 'code', client_id: 'demo-spa', redirect_uri: `${appBase}/callback`,
    scope: 'openid profile', state: 'st-123', nonce: 'n-456',
    code_challenge: challenge, code_challenge_method: 'S256',
  });
  await page.goto(`${server.base}/oauth2/authorize?${q}`);
  await signInOnForm(page);
  await page.waitForURL((u) => u.toString().startsWith(`${appBase}/callback?`));
  const back = new URL(page.url());
  assert.equal(back.searchParams.get('state'), 'st-123');
  const code = back.searchParams.get('code');
  assert.ok(code, page.url());
  // The code exchanges for tokens (public client: PKCE verifier, no secret).
  const tok = await fetch(`${server.base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: `${appBase}/callback`,
      client_id: 'demo-spa', code_verifier: verifier,
    }),
  });
  assert.equal(tok.status, 200, await tok.clone().text());
  const t = await tok.json();
  const claims = JSON.parse(Buffer.from(t.id_token.split('.')[1], 'base64url').toString());
  assert.equal(claims.nonce, 'n-456');
  assert.equal(claims.aud, 'demo-spa');
  assert.equal(claims.preferred_username ?? 'rita', 'rita');
  // Signed in now: a second authorization goes straight back without a form.
  await page.goto(`${server.base}/oauth2/authorize?${q}`);
  await page.waitForURL((u) => u.toString().startsWith(`${appBase}/callback?`));
  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});

test('a device signs in with the device grant, approved in a real browser', async () => {
  const form = (body) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const start = await fetch(`${server.base}/oauth2/device_authorization`, form({ client_id: 'demo-cli', scope: 'openid' }));
  assert.equal(start.status, 200, await start.clone().text());
  const d = await start.json();
  const poll = () => fetch(`${server.base}/oauth2/token`, form({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code, client_id: 'demo-cli',
  }));
  let r = await poll();
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error, 'authorization_pending');

  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  assert.equal((await signIn(page, server.base, 'rita', PASSWORD)).status(), 303);
  await page.goto(d.verification_uri_complete);
  const text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('Demo CLI') && text.includes('asks to sign in on a device'), text);
  await page.screenshot({ path: `${SHOTS}/device-approve.png` });
  await page.click('button:has-text("Approve")');
  await page.waitForSelector('.alert.ok');
  await page.screenshot({ path: `${SHOTS}/device-approved.png` });

  // Wait out the polling interval the server asked for, then the tokens come.
  await new Promise((res) => setTimeout(res, (d.interval ?? 5) * 1000 + 200));
  r = await poll();
  assert.equal(r.status, 200, await r.clone().text());
  const t = await r.json();
  assert.ok(t.access_token && t.id_token, JSON.stringify(t));
  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});
