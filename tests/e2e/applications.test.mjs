// Applications, sensitivity labels and signing keys in the console, and the sign-in page an
// application sends a signed-in user to when it asks for a fresh sign-in (step-up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 900 };
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
  server.cli(['admin', 'user', 'create', 'root', '--display-name', 'Root Admin', '--role', 'global_administrator', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['labels', 'set-context', 'c1', '--name', 'Sensitive data', '--description', 'Phishing-resistant MFA']);
  server.cli(['labels', 'set', 'general', '--name', 'General', '--rank', '20']);
  server.cli(['labels', 'set', 'confidential', '--name', 'Confidential', '--rank', '30', '--context', 'c1']);
  server.cli(['apps', 'create', 'hr', '--name', 'HR portal', '--label', 'general']);
  server.cli(['apps', 'add-route', 'hr', 'hr.example.com', '/']);
  server.cli(['apps', 'add-route', 'hr', 'hr.example.com', '/salaries', '--label', 'confidential']);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the console manages applications, labels and keys; an application can ask for a fresh sign-in', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  assert.equal((await signIn(page, server.base, 'root', PASSWORD)).status(), 303);
  await page.goto(`${server.base}/admin/applications`);
  let text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('HR portal') && text.includes('/salaries') && text.includes('confidential'), text);

  // Register another application through the form, with a label.
  await page.fill('#id', 'wiki');
  await page.fill('#name', 'Team wiki');
  await page.selectOption('#label', 'general');
  await page.click('button:has-text("Register")');
  await page.waitForSelector('text=Saved.');
  text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('Team wiki'), text);
  // A bad id is refused with the API's message, and nothing is added.
  await page.fill('#id', 'Bad Id');
  await page.fill('#name', 'Bad');
  await page.evaluate(() => document.getElementById('id').removeAttribute('pattern'));
  await page.click('button:has-text("Register")');
  await page.waitForSelector('.alert.error');
  assert.ok((await page.textContent('.alert.error')).includes('lowercase slug'));
  // Deleting a label in use is refused, with the reason.
  await page.click('form[action="/admin/labels/confidential/delete"] button');
  await page.waitForSelector('.alert.error');
  assert.ok((await page.textContent('.alert.error')).includes('carries this sensitivity label'));
  // Rotate the signing key: the new one is published, the current one keeps signing.
  await page.click('button:has-text("Rotate")');
  await page.waitForSelector('text=A new signing key was created');
  const keys = await page.locator('#keys + p + .panel tbody tr').count();
  assert.equal(keys, 2);
  await page.screenshot({ path: `${SHOTS}/applications.png`, fullPage: true });

  // An application asks the signed-in user to sign in again (prompt=login).
  await page.goto(`${server.base}/login?next=%2Fmy&app=hr&prompt=login`);
  text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('HR portal asks you to sign in'), text);
  assert.equal(await page.inputValue('input[name=app]'), 'hr');
  await page.screenshot({ path: `${SHOTS}/login-step-up.png` });
  await page.fill('#username', 'root');
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Sign in")');
  await page.waitForURL(`${server.base}/my`);

  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});
