// Device trust in a real browser: a device registers through the device grant (the user
// approves in Chromium), with a CSR made by openssl, then reports its posture with proofs
// signed by Node's own ECDSA; the administrator sees it in the console and the user under
// "My devices". Screenshots go to docs/screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer, launch, signIn, watchConsole, PASSWORD } from './harness.mjs';

const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const viewport = { width: 1280, height: 900 };
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
  server.cli(['admin', 'user', 'create', 'dana', '--display-name', 'Dana', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'user', 'create', 'root2', '--display-name', 'Admin', '--password-stdin'], `${PASSWORD}\n`);
  server.cli(['admin', 'role', 'assign', 'root2', 'global_administrator']);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function proof(keyPem, kid, method, url, body) {
  const header = { alg: 'ES256', typ: 'trustplane-device-proof+jwt', kid };
  const claims = { htm: method, htu: url, iat: Math.floor(Date.now() / 1000), jti: b64url(randomBytes(16)) };
  if (body) claims.bh = b64url(createHash('sha256').update(body).digest());
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign('sha256', Buffer.from(input), { key: createPrivateKey(keyPem), dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

test('a device registers through the browser-approved device grant and reports its posture', async () => {
  const form = (body) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body),
  });
  const start = await fetch(`${server.base}/oauth2/device_authorization`,
    form({ client_id: 'trustplane-agent', scope: 'device.register' }));
  assert.equal(start.status, 200, await start.clone().text());
  const d = await start.json();

  const ctx = await browser.newContext({ viewport });
  const errors = watchConsole(ctx);
  const page = await ctx.newPage();
  assert.equal((await signIn(page, server.base, 'dana', PASSWORD)).status(), 303);
  await page.goto(d.verification_uri_complete);
  const text = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(text.includes('trustplane agent'), text);
  await page.click('button:has-text("Approve")');
  await page.waitForSelector('.alert.ok');

  await new Promise((res) => setTimeout(res, (d.interval ?? 5) * 1000 + 200));
  const t = await fetch(`${server.base}/oauth2/token`, form({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code, client_id: 'trustplane-agent',
  }));
  assert.equal(t.status, 200, await t.clone().text());
  const { access_token } = await t.json();

  // The device's key and CSR, made by openssl.
  const dir = mkdtempSync(join(tmpdir(), 'tp-device-'));
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'device.key'), '-out', join(dir, 'device.csr'), '-subj', '/CN=dana-laptop'], { stdio: 'pipe' });
  const keyPem = readFileSync(join(dir, 'device.key'), 'utf8');
  const reg = await fetch(`${server.base}/api/v1/devices/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      csr_pem: readFileSync(join(dir, 'device.csr'), 'utf8'), display_name: "Dana's laptop", platform: 'linux',
      os_version: '12.4', hostname: 'dana-laptop', manufacturer: 'Framework', model: 'Laptop 13',
    }),
  });
  assert.equal(reg.status, 201, await reg.clone().text());
  const device = await reg.json();

  // A compliance policy for Linux (through the API, with an administrator's token), then a
  // report that fails the firewall rule: the device enters its grace period.
  const tok = server.cli(['admin', 'token', 'create', '--role', 'security_administrator', '--name', 'e2e'])
    .trim().split(/\s+/).pop();
  const put = await fetch(`${server.base}/api/v1/devices/compliance`, {
    method: 'PUT', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' },
    body: JSON.stringify({ no_policy: 'non_compliant', policies: [{
      id: 'linux-baseline', name: 'Linux baseline', platform: 'linux', max_machine_risk: 'low',
      minimum_os_version: '12', require_disk_encryption: true, require_firewall: true,
      grace_period_days: 3, validity_period_days: 30, notify_user: true }] }),
  });
  assert.equal(put.status, 200, await put.clone().text());
  const admin = await browser.newContext({ viewport });
  const adminErrors = watchConsole(admin);
  const ap = await admin.newPage();
  assert.equal((await signIn(ap, server.base, 'root2', PASSWORD)).status(), 303);
  const reportUrl = `${server.base}/api/v1/devices/${device.device_id}/reports`;
  const body = JSON.stringify({
    platform: 'linux', os_name: 'Debian GNU/Linux', os_version: '12.4', kernel: '6.1.0-13-amd64',
    hostname: 'dana-laptop', observations: [
      { setting: 'disk_encryption', value: { bool: true } },
      { setting: 'firewall_active', value: { bool: false } },
      { setting: 'secure_boot', value: { bool: true } },
      { setting: 'os_version', value: { version: '12.4' } },
      { setting: 'ssh_root_login', value: { bool: false } },
      { setting: 'automatic_security_updates', value: { bool: true } },
    ],
  });
  const rep = await fetch(reportUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'device-proof': proof(keyPem, device.device_id, 'POST', reportUrl, body) },
    body,
  });
  assert.equal(rep.status, 202, await rep.clone().text());
  const verdict = await rep.json();
  assert.equal(verdict.compliance, 'in_grace');
  assert.equal(verdict.reasons[0].message, 'Turn on the firewall.');

  // The administrator's view.
  await ap.goto(`${server.base}/admin/devices`);
  const list = (await ap.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(list.includes("Dana's laptop") && list.includes('in grace period'), list);
  await ap.screenshot({ path: `${SHOTS}/admin-devices.png`, fullPage: true });
  await ap.click(`a:has-text("Dana's laptop")`);
  const detail = (await ap.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(detail.includes('Turn on the firewall.') && detail.includes('Framework Laptop 13'), detail);
  await ap.screenshot({ path: `${SHOTS}/admin-device.png`, fullPage: true });

  // The user's view: their device, which they can remove.
  await page.goto(`${server.base}/my`);
  const mine = (await page.textContent('main')).replace(/\s+/g, ' ');
  assert.ok(mine.includes("Dana's laptop") && mine.includes('in grace period'), mine);
  await page.locator('text=My devices').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/my-devices.png`, fullPage: true });
  await page.click('form[action$="/remove"] button');
  await page.waitForSelector('.alert.ok');
  assert.ok((await page.textContent('.alert.ok')).includes('The device was removed'));
  assert.deepEqual(errors, [], 'no console errors');
  assert.deepEqual(adminErrors, [], 'no console errors');
  await ctx.close();
  await admin.close();
});
