// Conditional access in a real browser: an administrator's policies (set with the CLI on the
// same database) block a contractor's sign-in with a reason page; the console shows the
// policies, what-if, the sign-in log entry with its per-policy record, and impact replay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
  server.cli(['admin', 'user', 'create', 'carl', '--display-name', 'Carl Contractor', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'user', 'create', 'dora', '--display-name', 'Dora Employee', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'group', 'create', 'contractors']);
  server.cli(['admin', 'group', 'add-member', 'contractors', 'carl']);
  const gid = server.cli(['admin', 'group', 'list']).match(/contractors\s+(\S+)/)[1];
  const file = join(server.data, 'policies.yaml');
  writeFileSync(file, `policies:
  - id: block-contractors
    name: Block contractors outside the office
    state: enabled
    assignments:
      users:
        include:
          groups: ["${gid}"]
      applications:
        include: all
    conditions:
      locations:
        include: all
        exclude: all_trusted
    grant: block
  - id: mfa-everyone
    name: Require MFA for everyone
    state: report_only
    assignments:
      users:
        include:
          all: true
        exclude:
          roles: [global_administrator]
      applications:
        include: all
    grant:
      operator: all
      controls: [mfa]
named_locations:
  - id: office
    name: Office network
    trusted: true
    ip_ranges: ["198.51.100.0/24"]
`);
  server.cli(['policy', 'set', file, '--comment', 'first policies']);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a block policy stops a sign-in; the console explains why', async () => {
  // Carl signs in from outside the office (127.0.0.1): blocked, with a correlation id.
  const cctx = await browser.newContext({ viewport });
  const carl = await cctx.newPage();
  const resp = await signIn(carl, server.base, 'carl', PASSWORD);
  assert.equal(resp.status(), 403);
  const text = (await carl.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes("access policy does not allow this sign-in"), text);
  assert.ok(text.includes('Correlation id'), text);
  assert.ok(!text.includes('block-contractors'), 'no policy internals for the user');
  await carl.screenshot({ path: `${SHOTS}/access-blocked.png` });
  await cctx.close();

  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  assert.equal((await signIn(page, server.base, 'root', PASSWORD)).status(), 303);
  await page.goto(`${server.base}/admin/conditional-access`);
  const policies = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(policies.includes('block-contractors') && policies.includes('report-only'), policies);
  await page.screenshot({ path: `${SHOTS}/access-policies.png`, fullPage: true });

  // What if Carl came from the office?
  await page.goto(`${server.base}/admin/conditional-access/what-if`);
  await page.fill('#user', 'carl');
  await page.fill('#ip', '198.51.100.20');
  await page.click('button:has-text("Evaluate")');
  await page.waitForSelector('text=Decision:');
  const w = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(w.includes('location_excluded'), w);
  await page.screenshot({ path: `${SHOTS}/access-what-if.png`, fullPage: true });

  // The sign-in log entry and its detail.
  await page.goto(`${server.base}/admin/sign-ins?outcome=block`);
  await page.click('table tbody tr td a');
  await page.waitForSelector('text=Sign-in of carl');
  const d = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(d.includes('blocked_by_policy') && d.includes('block-contractors'), d);
  await page.screenshot({ path: `${SHOTS}/access-sign-in-detail.png`, fullPage: true });

  // Dora signs in (allowed; the report-only MFA policy only records). Impact replay of the
  // current set with the MFA policy enabled: her sign-in would have been challenged.
  const dctx = await browser.newContext({ viewport });
  assert.equal((await signIn(await dctx.newPage(), server.base, 'dora', PASSWORD)).status(), 303);
  await dctx.close();
  await page.goto(`${server.base}/admin/conditional-access/replay`);
  const draft = await page.inputValue('#draft');
  await page.fill('#draft', draft.replace('"report_only"', '"enabled"'));
  await page.click('button:has-text("Replay")');
  await page.waitForSelector('text=Decided differently');
  const rep = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(rep.includes('Newly challenged1') && rep.includes('Users affecteddora'), rep);
  await page.screenshot({ path: `${SHOTS}/access-replay.png`, fullPage: true });

  assert.deepEqual(errors, [], 'no console errors (CSP included)');
  await ctx.close();
});

test('terms of use are shown and accepted during sign-in', async () => {
  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const admin = await ctx.newPage();
  assert.equal((await signIn(admin, server.base, 'root', PASSWORD)).status(), 303);
  // Create terms and a policy requiring them, through the API with the admin's session.
  await admin.goto(`${server.base}/admin/conditional-access`);
  const csrf = await admin.inputValue('input[name=csrf_token]');
  const version = Number(await admin.inputValue('input[name=based_on]'));
  const status = await admin.evaluate(async ({ csrf, version }) => {
    const h = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
    const t = await fetch('/api/v1/terms-of-use', {
      method: 'POST', headers: h,
      body: JSON.stringify({ id: 'aup', name: 'Acceptable use policy', body: 'Company systems are for work.\n\nReport lost devices and suspicious messages to security@example.com at once.\n\nActivity may be logged.' }),
    });
    const p = await fetch(`/api/v1/conditional-access/policies/terms?based_on=${version}`, {
      method: 'PUT', headers: h,
      body: JSON.stringify({ id: 'terms', name: 'Accept the acceptable use policy', state: 'enabled',
        assignments: { users: { include: { all: true }, exclude: { roles: ['global_administrator'] } }, applications: { include: 'all' } },
        grant: { operator: 'all', controls: [{ terms_of_use: 'aup' }] } }),
    });
    return [t.status, p.status, p.ok ? '' : await p.text()];
  }, { csrf, version });
  assert.deepEqual(status.slice(0, 2), [201, 200], String(status[2]));

  const dctx = await browser.newContext({ viewport });
  const derrors = watchConsole(dctx);
  const dora = await dctx.newPage();
  assert.equal((await signIn(dora, server.base, 'dora', PASSWORD)).status(), 303);
  await dora.waitForURL((u) => u.pathname === '/login/continue');
  assert.ok((await dora.textContent('main')).includes('Report lost devices'));
  await dora.screenshot({ path: `${SHOTS}/access-terms.png` });
  await dora.click('button:has-text("Accept")');
  await dora.waitForURL((u) => u.pathname === '/my');
  assert.deepEqual(errors, [], 'no console errors');
  assert.deepEqual(derrors, [], 'no console errors');
  await ctx.close();
  await dctx.close();
});
