// Hostile redirect targets in a real browser. Chromium strips tabs and newlines from a URL
// and reads `\` as `/`, so a `Location: /\t/evil.example/phish` takes it to evil.example.
// Every link below must leave the browser on trustplane's origin, and the "evil" server (a
// real one on another port, so that a successful attack would load) must see no request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launch, PASSWORD } from './harness.mjs';

let server;
let browser;
let evil;
let evilHost;
const hits = [];

before(async () => {
  server = await startServer();
  browser = await launch();
  evil = createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>evil</title><p id="evil">EVIL</p>');
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  evilHost = `127.0.0.1:${evil.address().port}`;
  server.cli(['admin', 'user', 'create', 'vic', '--display-name', 'Vic', '--password-stdin'], `${PASSWORD}\n`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  evil?.close();
});

// As they would appear in a link's query string (percent-encoded once).
const hostile = () => [
  `/%09/${evilHost}/phish`, // tab
  `/%0a/${evilHost}/phish`, // line feed
  `/%0d/${evilHost}/phish`, // carriage return
  `/%0b/${evilHost}/phish`, // vertical tab (a 500 before)
  `/%5c${evilHost}/phish`, // backslash
  `/%5c/${evilHost}/phish`,
  `%5c%5c${evilHost}/phish`,
  `//${evilHost}/phish`,
  `/%2509/${evilHost}/phish`, // double-encoded tab
  `/%E2%80%A8/${evilHost}/phish`, // Unicode line separator
  `http://${evilHost}/phish`, // not a registered application
  `http://%09${evilHost}/phish`,
];

function assertHome(page, what) {
  const at = new URL(page.url());
  assert.equal(at.host, new URL(server.base).host, `${what}: the browser left for ${page.url()}`);
}

test('hostile /login/return links keep the browser on trustplane', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  for (const to of hostile()) {
    const resp = await page.goto(`${server.base}/login/return?to=${to}`);
    await page.waitForLoadState();
    assert.ok(resp.status() < 500, `${to}: ${resp.status()}`);
    assertHome(page, to);
  }
  assert.deepEqual(hits, [], 'the evil server was reached');
  await ctx.close();
});

test('a sign-in with a hostile next lands on the portal, not elsewhere', async () => {
  for (const next of hostile()) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.base}/login?next=${next}`);
    await page.fill('#username', 'vic');
    await page.fill('#password', PASSWORD);
    await Promise.all([
      page.waitForURL((u) => u.pathname !== '/login' || u.host !== new URL(server.base).host),
      page.click('button:has-text("Sign in")'),
    ]);
    await page.waitForLoadState();
    assertHome(page, next);
    assert.equal(new URL(page.url()).pathname, '/my', next);
    // Signed in now: the same hostile link does not move the browser either.
    await page.goto(`${server.base}/login/return?to=${next}`);
    await page.waitForLoadState();
    assertHome(page, `${next} (signed in)`);
    await ctx.close();
  }
  assert.deepEqual(hits, [], 'the evil server was reached');
});
