// Email codes and self-service password reset in a real browser: a user confirms an email
// address on the security info page, forgets their password, and resets it at /reset with a
// code read from the outbox the server writes (the embedded default, no mail server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 800 };
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
  server.cli(['admin', 'user', 'create', 'dora', '--display-name', 'Dora Explorer', '--email', 'dora@example.com', '--password-stdin'], `${PASSWORD}\n`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The code in the newest outbox message to `to` (waits for `count` messages). */
async function codeFor(to, count) {
  const dir = join(server.data, 'outbox');
  for (let i = 0; i < 50; i++) {
    let mails = [];
    try {
      mails = readdirSync(dir)
        .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs, text: readFileSync(join(dir, f), 'utf8').replace(/=\r?\n/g, '') }))
        .filter((m) => m.text.split(/\r?\n/).some((l) => l.trim() === `To: ${to}`))
        .sort((a, b) => a.t - b.t);
    } catch { /* not created yet */ }
    if (mails.length >= count) {
      const m = mails[mails.length - 1].text.match(/^\s+(\d{4}) (\d{4})\s*$/m);
      assert.ok(m, 'a code in the message');
      return m[1] + m[2];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message to ${to}`);
}

test('confirm an email address, then reset a forgotten password with an emailed code', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  assert.equal((await signIn(page, server.base, 'dora', PASSWORD)).status(), 303);
  await page.goto(`${server.base}/my/security-info`);
  await page.fill('#email_address', 'dora.home@example.org');
  await page.click('button:has-text("Send a confirmation code")');
  await page.waitForSelector('#email_code');
  await page.fill('#email_code', await codeFor('dora.home@example.org', 1));
  await page.click('button:has-text("Confirm address")');
  await page.waitForSelector('text=Email address confirmed');
  assert.ok((await page.textContent('main')).includes('dora.home@example.org'));
  await page.screenshot({ path: `${SHOTS}/security-info-email.png`, fullPage: true });

  // Forgotten password: from the sign-in page.
  const rctx = await browser.newContext({ viewport });
  const rerrors = watchConsole(rctx);
  const r = await rctx.newPage();
  await r.goto(`${server.base}/login`);
  await r.click('a:has-text("Forgot your password?")');
  await r.waitForURL((u) => u.pathname === '/reset');
  await r.fill('#username', 'dora');
  await r.screenshot({ path: `${SHOTS}/reset-start.png` });
  await r.click('button:has-text("Next")');
  await r.waitForURL((u) => u.pathname === '/reset/verify');
  await r.click('button:has-text("Email me a code")');
  await r.waitForSelector('text=we sent an 8-digit code');
  await r.screenshot({ path: `${SHOTS}/reset-verify.png` });
  await r.fill('#code', await codeFor('dora.home@example.org', 2));
  await r.click('button:has-text("Verify")');
  await r.waitForSelector('#new_password');
  await r.fill('#new_password', 'password1234');
  await r.waitForSelector('.meter-reasons li');
  await r.screenshot({ path: `${SHOTS}/reset-password.png` });
  await r.fill('#new_password', 'amber falcon tidepool lantern');
  await r.fill('#confirm_password', 'amber falcon tidepool lantern');
  await r.click('button:has-text("Reset password")');
  await r.waitForSelector('text=Your password was reset');

  // The first browser's session was revoked.
  const res = await page.goto(`${server.base}/my`);
  assert.equal(new URL(page.url()).pathname, '/login', `revoked session: ${res.status()}`);
  assert.deepEqual(errors, [], 'no console errors or CSP violations');
  assert.deepEqual(rerrors, [], 'no console errors or CSP violations');
  await ctx.close();
  await rctx.close();
});
