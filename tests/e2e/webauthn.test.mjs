// Passkeys in a real browser, with Chromium's virtual WebAuthn authenticator (CDP): a user
// registers a passkey on the security info page, signs out, and signs in again with
// "Sign in with a passkey" alone (no username, no password).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 800 };
let server;
let browser;
let base;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  // WebAuthn needs a secure context: http://localhost is one (the relying party id is
  // `localhost` when no public_url is configured).
  base = server.base.replace('127.0.0.1', 'localhost');
  browser = await launch();
  server.cli(['admin', 'user', 'create', 'dana', '--display-name', 'Dana Scully', '--email', 'dana@example.com', '--password-stdin'], `${PASSWORD}\n`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('register a passkey, then sign in with it alone', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  assert.equal((await signIn(page, base, 'dana', PASSWORD)).status(), 303);
  await page.waitForURL((u) => u.pathname === '/my');
  await page.goto(`${base}/my/security-info`);
  await page.fill('#webauthn-label', 'This laptop');
  await page.click('#webauthn-register');
  await page.waitForURL((u) => u.pathname === '/my/security-info' && u.search.includes('ok=webauthn_added'));
  const text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('This laptop'), text);
  assert.ok(/Security key \(device-bound\)|Passkey \(synced\)/.test(text), text);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential was created');
  await page.screenshot({ path: `${SHOTS}/security-info-passkey.png`, fullPage: true });

  // Sign out; sign in with the passkey alone.
  await page.click('button:has-text("Sign out")');
  await page.waitForURL((u) => u.pathname === '/login');
  assert.ok(await page.isVisible('#passkey-login'));
  await page.screenshot({ path: `${SHOTS}/login-passkey.png`, fullPage: true });
  await page.click('#passkey-login');
  await page.waitForURL((u) => u.pathname === '/' || u.pathname === '/my');
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  assert.equal(me.username, 'dana');
  assert.deepEqual(me.amr.slice(1), ['user', 'mfa']);
  assert.ok(['hwk', 'swk'].includes(me.amr[0]), JSON.stringify(me.amr));

  // The password sign-in now offers the passkey as the second factor.
  await page.click('button:has-text("Sign out")');
  await page.waitForURL((u) => u.pathname === '/login');
  assert.equal((await signIn(page, base, 'dana', PASSWORD)).status(), 303);
  await page.waitForURL((u) => u.pathname === '/login/continue');
  await page.click('#webauthn-second-factor');
  await page.waitForURL((u) => u.pathname === '/' || u.pathname === '/my');
  const me2 = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  assert.equal(me2.amr[0], 'pwd');
  assert.ok(me2.amr.includes('mfa'), JSON.stringify(me2.amr));

  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});

test('reset a forgotten password with a passkey', async () => {
  server.cli(['admin', 'user', 'create', 'fox', '--display-name', 'Fox Mulder', '--password-stdin'], `${PASSWORD}\n`);
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  assert.equal((await signIn(page, base, 'fox', PASSWORD)).status(), 303);
  await page.goto(`${base}/my/security-info`);
  await page.fill('#webauthn-label', 'Phone');
  await page.click('#webauthn-register');
  await page.waitForURL((u) => u.search.includes('ok=webauthn_added'));
  await page.click('button:has-text("Sign out")');
  await page.waitForURL((u) => u.pathname === '/login');

  // Forgotten password: the same browser (it holds the passkey) verifies with it.
  await page.goto(`${base}/reset`);
  await page.fill('#username', 'fox');
  await page.click('button:has-text("Next")');
  await page.waitForURL((u) => u.pathname === '/reset/verify');
  assert.ok(await page.isVisible('#passkey-reset'));
  await page.screenshot({ path: `${SHOTS}/reset-verify-passkey.png` });
  await page.click('#passkey-reset');
  await page.waitForSelector('#new_password');
  await page.fill('#new_password', 'quartz-Meadow-bicycle-47');
  await page.fill('#confirm_password', 'quartz-Meadow-bicycle-47');
  await page.click('button:has-text("Reset password")');
  await page.waitForSelector('text=Your password was reset');
  assert.deepEqual(errors, [], 'no console errors');
  await ctx.close();
});
