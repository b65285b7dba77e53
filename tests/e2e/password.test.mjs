// Password protection in a real browser: a breached-password file imported with the CLI is
// picked up by the running server; a user who signs in with a leaked password is sent to the
// "choose a new password" step, where the live strength meter explains the verdict as they
// type; the administrator sees the remediated risk detection and manages organisation terms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 800 };
const NEW_PASSWORD = 'lantern quibble orchard vessel';
const ROOT_PASSWORD = 'wobbly kettle arithmetic 12';
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
  server.cli(['admin', 'user', 'create', 'root', '--display-name', 'Rita Root', '--role', 'global_administrator', '--password-stdin'], `${ROOT_PASSWORD}\n`);
  server.cli(['admin', 'user', 'create', 'bob', '--display-name', 'Bob Builder', '--email', 'bob@example.com', '--password-stdin'], `${PASSWORD}\n`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function sha1(s) {
  return createHash('sha1').update(s, 'utf8').digest('hex').toUpperCase();
}

test('an imported breach file reaches the running server and forces a password change', async () => {
  // A Have I Been Pwned style file: HASH:COUNT lines sorted by hash.
  const lines = [PASSWORD, 'another leaked phrase', 'hunter2hunter2'].map((p) => `${sha1(p)}:42`).sort();
  const file = join(server.data, 'pwned.txt');
  writeFileSync(file, lines.join('\r\n') + '\r\n');
  const out = server.cli(['password', 'import-breached', file]);
  assert.match(out, /3/, `import reports the hashes: ${out}`);

  // The administrator's console shows the filter once the server has picked it up (no restart).
  const actx = await browser.newContext({ viewport });
  const adminErrors = watchConsole(actx);
  const admin = await actx.newPage();
  assert.equal((await signIn(admin, server.base, 'root', ROOT_PASSWORD)).status(), 303);
  await admin.waitForURL((u) => u.pathname === '/my');

  let inUse = false;
  for (let i = 0; i < 30 && !inUse; i++) {
    await admin.goto(`${server.base}/admin/password-protection`);
    inUse = (await admin.textContent('main')).includes('in use');
    if (!inUse) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(inUse, 'the running server loaded the imported filter');
  assert.ok((await admin.textContent('main')).includes('3 (count threshold 1)'));

  // Organisation terms through the console.
  await admin.fill('#terms', 'Contoso\nFabrikam');
  await admin.click('button:has-text("Add terms")');
  await admin.waitForURL((u) => u.pathname === '/admin/password-protection');
  assert.ok(await admin.isVisible('[role=status]:has-text("Banned terms added")'));
  const terms = await admin.$$eval('table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(terms.sort(), ['Contoso', 'Fabrikam']);
  await admin.screenshot({ path: `${SHOTS}/admin-password-protection.png`, fullPage: true });

  // Bob signs in with the leaked password.
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  const resp = await signIn(page, server.base, 'bob', PASSWORD);
  assert.equal(resp.status(), 303);
  await page.waitForURL((u) => u.pathname === '/login/continue');
  assert.equal(await page.textContent('main h1'), 'Choose a new password');
  assert.ok((await page.textContent('main')).includes('data breach'));
  assert.ok(!(await ctx.cookies()).some((c) => c.name === 'tp_session'), 'no session yet');

  // The meter explains a weak choice while typing…
  await page.type('#new_password', 'BuilderContoso1!', { delay: 20 });
  await page.waitForSelector('#meter.weak');
  const reasons = await page.$$eval('#meter .meter-reasons li', (lis) => lis.map((li) => li.textContent));
  assert.ok(reasons.some((r) => r.includes('your name')), `reasons: ${reasons}`);
  assert.ok(reasons.some((r) => r.includes('organisation')), `reasons: ${reasons}`);
  await page.screenshot({ path: `${SHOTS}/change-password.png` });

  // …and approves a strong one.
  await page.fill('#new_password', '');
  await page.type('#new_password', NEW_PASSWORD, { delay: 10 });
  await page.waitForSelector('#meter.good');
  assert.equal((await page.textContent('#meter .meter-reasons')).trim(), 'Strong enough.');

  // Submitting a mismatch keeps the step with a clear error; a match signs in.
  await page.fill('#confirm_password', 'not the same');
  await page.click('button:has-text("Change password and continue")');
  await page.waitForSelector('[role=alert]:has-text("do not match")');
  await page.fill('#new_password', NEW_PASSWORD);
  await page.fill('#confirm_password', NEW_PASSWORD);
  await page.click('button:has-text("Change password and continue")');
  await page.waitForURL((u) => u.pathname === '/my');
  assert.ok((await ctx.cookies()).some((c) => c.name === 'tp_session'));
  assert.ok(!(await ctx.cookies()).some((c) => c.name === 'tp_flow'), 'flow cookie cleared');
  // The refused submission is answered 422 on purpose (Chromium logs that status); anything
  // else would be a script error or a CSP violation.
  assert.deepEqual(errors.filter((e) => !e.includes('status of 422')), [], 'no console errors or CSP violations');

  // The administrator sees the remediated detection.
  await admin.goto(`${server.base}/admin/risk?all=1`);
  const rows = await admin.$$eval('table tbody tr', (trs) => trs.map((tr) => tr.textContent.replace(/\s+/g, ' ')));
  const bobRow = rows.find((r) => r.includes('bob'));
  assert.ok(bobRow && bobRow.includes('leaked_credentials') && bobRow.includes('remediated'), `rows: ${rows}`);
  await admin.screenshot({ path: `${SHOTS}/admin-risk.png`, fullPage: true });
  assert.deepEqual(adminErrors, [], 'no console errors or CSP violations');
  await ctx.close();
  await actx.close();
});
