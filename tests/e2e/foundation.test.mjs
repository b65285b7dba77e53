// Foundation in a real browser: first-administrator bootstrap, password sign-in, the admin
// console, a user's account and API, no user enumeration, sign-out. The four tests share one
// server and run in order (a later one uses the users an earlier one created).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 800 };
const NAV = ['Dashboard', 'Users', 'Groups', 'Sessions', 'Sign-in log', 'Audit log', 'API tokens'];
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

/** The rows of the first table on the page, as arrays of cell texts. */
function tableRows(page) {
  return page.$$eval('table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
}

test('bootstrap creates the first administrator, who signs in to the admin console', async () => {
  const ctx = await browser.newContext({ viewport });
  const consoleErrors = watchConsole(ctx);
  const page = await ctx.newPage();

  const form = await page.goto(server.bootstrapUrl);
  assert.equal(form.status(), 200);
  assert.equal(await page.textContent('h1'), 'Welcome to trustplane');
  await page.fill('#username', 'admin');
  await page.fill('#display_name', 'Ada Admin');
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Create administrator")');

  // Lands on the real login page, form empty.
  await page.waitForURL((u) => u.pathname === '/login');
  assert.equal(await page.textContent('main h1'), 'Sign in');
  assert.equal(await page.inputValue('#username'), '');
  assert.equal(await page.inputValue('#password'), '');
  assert.equal(await page.locator('[role=alert]').count(), 0, 'no error on the fresh login page');
  await page.screenshot({ path: `${SHOTS}/login.png` });

  await page.fill('#username', 'admin');
  await page.fill('#password', PASSWORD);
  const [post] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
    page.click('button:has-text("Sign in")'),
  ]);
  assert.equal(post.status(), 303);
  assert.ok((await ctx.cookies()).some((c) => c.name === 'tp_session'), 'session cookie set');
  await page.waitForURL((u) => u.pathname === '/admin');
  assert.equal(await page.textContent('main h1'), 'Dashboard');
  for (const item of NAV) {
    assert.ok(await page.isVisible(`nav a:has-text("${item}")`), `nav has ${item}`);
  }
  assert.ok(await page.isVisible('button:has-text("Sign out")'), 'top bar has Sign out');
  await page.screenshot({ path: `${SHOTS}/admin.png` });

  // Users, reached through the nav: the bootstrap administrator is listed with the admin role.
  await page.click('nav a:has-text("Users")');
  await page.waitForURL((u) => u.pathname === '/admin/users');
  assert.equal(await page.textContent('main h1'), 'Users');
  const users = await tableRows(page);
  // Columns: username, display name, email, status, created.
  const adminRow = users.find((r) => r[0] === 'admin');
  assert.ok(adminRow, `admin listed in ${JSON.stringify(users)}`);
  assert.equal(adminRow[1], 'Ada Admin');
  assert.equal(adminRow[3], 'enabled');

  assert.deepEqual(consoleErrors, [], 'no console errors or CSP violations');

  // The bootstrap link is single-use.
  const again = await page.goto(server.bootstrapUrl);
  assert.equal(again.status(), 404);
  await ctx.close();
});

test('an admin-created user signs in through the page and sees themself in /api/v1/me', async () => {
  server.cli(['admin', 'user', 'create', 'alice', '--display-name', 'Alice Liddell', '--email', 'alice@example.com', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'group', 'create', 'engineering']);
  server.cli(['admin', 'group', 'add-member', 'engineering', 'alice']);

  const ctx = await browser.newContext({ viewport });
  const consoleErrors = watchConsole(ctx);
  const page = await ctx.newPage();
  const resp = await signIn(page, server.base, 'alice', PASSWORD);
  assert.equal(resp.status(), 303);
  await page.waitForURL((u) => u.pathname === '/my');
  assert.equal(await page.textContent('main h1'), 'My account');
  const main = await page.textContent('main');
  assert.ok(main.includes('Alice Liddell'), 'account page shows the name');
  assert.ok(main.includes('engineering'), 'account page shows the group');
  await page.screenshot({ path: `${SHOTS}/my.png`, fullPage: true });

  const me = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
  assert.equal(me.username, 'alice');
  assert.equal(me.display_name, 'Alice Liddell');
  assert.ok(me.groups.includes('engineering'), `groups ${JSON.stringify(me.groups)}`);
  assert.deepEqual(me.amr, ['pwd']);
  assert.ok(!me.roles.includes('global_administrator'));
  assert.deepEqual(consoleErrors, [], 'no console errors or CSP violations');

  // Not an administrator: the console is refused.
  const denied = await page.goto(`${server.base}/admin`);
  assert.equal(denied.status(), 403);
  assert.equal(await page.textContent('h1'), 'Access denied');
  assert.equal(await page.locator('nav a:has-text("Audit log")').count(), 0, 'no admin nav on the refusal');

  // The session cookie is not readable from JavaScript.
  assert.equal(await page.evaluate(() => document.cookie.includes('tp_session')), false);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'tp_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  await ctx.close();
});

test('a wrong password and an unknown user look exactly the same, and both are logged', async () => {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const wrong = await signIn(page, server.base, 'alice', 'not her password at all');
  const wrongText = (await page.textContent('[role=alert]')).trim();
  const wrongHeading = await page.textContent('main h1');
  const unknown = await signIn(page, server.base, 'nobody', 'whatever password');
  const unknownText = (await page.textContent('[role=alert]')).trim();
  const unknownHeading = await page.textContent('main h1');
  assert.equal(wrong.status(), 401);
  assert.equal(unknown.status(), wrong.status());
  assert.equal(wrongText, 'Incorrect username or password.');
  assert.equal(unknownText, wrongText);
  assert.equal(unknownHeading, wrongHeading);
  // No session from a failure.
  assert.equal((await ctx.cookies()).some((c) => c.name === 'tp_session'), false);
  await ctx.close();

  // Both failures are in the sign-in log, with reasons only administrators see.
  const admin = await browser.newContext({ viewport });
  const adminErrors = watchConsole(admin);
  const ap = await admin.newPage();
  assert.equal((await signIn(ap, server.base, 'admin', PASSWORD)).status(), 303);
  await ap.goto(`${server.base}/admin/sign-ins`);
  assert.equal(await ap.textContent('main h1'), 'Sign-in log');
  const log = await tableRows(ap);
  // Columns: time, user, result, reason, IP, correlation.
  const failures = log.filter((r) => r[2] !== 'success');
  assert.ok(failures.some((r) => r[1] === 'alice' && r[3] === 'wrong_password'), `alice's failure in ${JSON.stringify(log)}`);
  assert.ok(failures.some((r) => r[1] === 'nobody' && r[3] === 'unknown_user'), `nobody's failure in ${JSON.stringify(log)}`);
  assert.ok(log.some((r) => r[1] === 'admin' && r[2] === 'success'), 'the successful sign-ins are there too');

  // The filter narrows it to the failures.
  await ap.selectOption('#result', 'failure');
  await Promise.all([ap.waitForURL(/result=failure/), ap.click('button:has-text("Filter")')]);
  const filtered = await tableRows(ap);
  assert.deepEqual(filtered.map((r) => r[1]).sort(), ['alice', 'nobody']);

  await ap.goto(`${server.base}/admin/users`);
  assert.ok(await ap.isVisible('main a:has-text("alice")'));
  await ap.screenshot({ path: `${SHOTS}/admin-users.png`, fullPage: true });

  await ap.goto(`${server.base}/admin/audit`);
  assert.equal(await ap.textContent('main h1'), 'Audit log');
  assert.ok((await ap.textContent('.alert')).includes('Hash chain intact'));
  await ap.screenshot({ path: `${SHOTS}/admin-audit.png`, fullPage: true });
  assert.deepEqual(adminErrors, [], 'no console errors or CSP violations');
  await admin.close();
});

test('signing out ends the session', async () => {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  await signIn(page, server.base, 'alice', PASSWORD);
  await page.waitForURL((u) => u.pathname === '/my');
  assert.equal(await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status)), 200);

  await page.click('button:has-text("Sign out")');
  await page.waitForURL((u) => u.pathname === '/login');
  assert.ok((await page.textContent('[role=status]')).includes('signed out'));
  assert.equal(await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status)), 401);

  const my = await page.goto(`${server.base}/my`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/my');
  assert.equal(my.request().redirectedFrom()?.url(), `${server.base}/my`);
  await ctx.close();
});
