// Foundation in a real browser: first-administrator bootstrap, password sign-in, the admin
// console, a user's account and API, no user enumeration, sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const viewport = { width: 1280, height: 800 };

test('bootstrap creates the first administrator, who signs in to the admin console', async () => {
  const ctx = await browser.newContext({ viewport });
  const consoleErrors = watchConsole(ctx);
  const page = await ctx.newPage();
  await page.goto(server.bootstrapUrl);
  assert.equal(await page.textContent('h1'), 'Welcome to trustplane');
  await page.fill('#username', 'admin');
  await page.fill('#display_name', 'Ada Admin');
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/login/);
  await page.screenshot({ path: `${SHOTS}/login.png` });

  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/admin$/);
  assert.equal(await page.textContent('main h1'), 'Dashboard');
  for (const item of ['Users', 'Groups', 'Sessions', 'Sign-in log', 'Audit log', 'API tokens']) {
    assert.ok(await page.isVisible(`nav a:has-text("${item}")`), `nav has ${item}`);
  }
  await page.screenshot({ path: `${SHOTS}/admin.png` });

  // The bootstrap link is single-use.
  assert.deepEqual(consoleErrors, [], 'no console errors or CSP violations');
  const again = await ctx.newPage();
  const resp = await again.goto(server.bootstrapUrl);
  assert.equal(resp.status(), 404);
  await ctx.close();
});

test('an admin-created user signs in through the page and sees themself in /api/v1/me', async () => {
  server.cli(['admin', 'user', 'create', 'alice', '--display-name', 'Alice Liddell', '--email', 'alice@example.com', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'group', 'create', 'engineering']);
  server.cli(['admin', 'group', 'add-member', 'engineering', 'alice']);

  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const resp = await signIn(page, server.base, 'alice', PASSWORD);
  assert.equal(resp.status(), 303);
  assert.match(page.url(), /\/my$/);
  assert.equal(await page.textContent('main h1'), 'My account');
  assert.ok((await page.textContent('main')).includes('engineering'));
  await page.screenshot({ path: `${SHOTS}/my.png`, fullPage: true });

  const me = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
  assert.equal(me.username, 'alice');
  assert.equal(me.display_name, 'Alice Liddell');
  assert.deepEqual(me.groups, ['engineering']);
  assert.deepEqual(me.amr, ['pwd']);

  // Not an administrator: the console is refused.
  const denied = await page.goto(`${server.base}/admin`);
  assert.equal(denied.status(), 403);
  assert.equal(await page.textContent('h1'), 'Access denied');

  // The session cookie is not readable from JavaScript.
  assert.equal(await page.evaluate(() => document.cookie.includes('tp_session')), false);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'tp_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  await ctx.close();
});

test('a wrong password and an unknown user look exactly the same', async () => {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const wrong = await signIn(page, server.base, 'alice', 'not her password at all');
  const wrongText = await page.textContent('[role=alert]');
  const unknown = await signIn(page, server.base, 'nobody', 'whatever password');
  const unknownText = await page.textContent('[role=alert]');
  assert.equal(wrong.status(), 401);
  assert.equal(unknown.status(), wrong.status());
  assert.equal(wrongText, 'Incorrect username or password.');
  assert.equal(unknownText, wrongText);
  await ctx.close();

  // Both are in the sign-in log, with reasons only administrators see.
  const admin = await browser.newContext({ viewport });
  const adminErrors = watchConsole(admin);
  const ap = await admin.newPage();
  await signIn(ap, server.base, 'admin', PASSWORD);
  await ap.goto(`${server.base}/admin/sign-ins?result=failure`);
  const log = await ap.textContent('table');
  assert.ok(log.includes('wrong_password'));
  assert.ok(log.includes('unknown_user'));
  assert.ok(log.includes('nobody'));

  await ap.goto(`${server.base}/admin/users`);
  assert.ok(await ap.isVisible('a:has-text("alice")'));
  await ap.screenshot({ path: `${SHOTS}/admin-users.png`, fullPage: true });
  await ap.goto(`${server.base}/admin/audit`);
  assert.ok((await ap.textContent('.alert')).includes('Hash chain intact'));
  await ap.screenshot({ path: `${SHOTS}/admin-audit.png`, fullPage: true });
  assert.deepEqual(adminErrors, [], 'no console errors or CSP violations');
  await admin.close();
});

test('signing out ends the session', async () => {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  await signIn(page, server.base, 'alice', PASSWORD);
  const before = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status));
  assert.equal(before, 200);
  await page.click('button:has-text("Sign out")');
  await page.waitForURL(/\/login\?signed_out=1/);
  assert.ok((await page.textContent('[role=status]')).includes('signed out'));
  const after = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status));
  assert.equal(after, 401);
  await page.goto(`${server.base}/my`);
  assert.match(page.url(), /\/login\?next=%2Fmy$/);
  await ctx.close();
});
