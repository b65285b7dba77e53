// Starts the real trustplane binary on a free port with its own data directory, and drives
// Debian's Chromium through playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

export const BIN = process.env.TRUSTPLANE_BIN ?? resolve(import.meta.dirname, '../../target/debug/trustplane');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const PASSWORD = 'correct horse battery staple';

// Fast Argon2 parameters (still above our enforced floor) keep the browser tests quick.
const ENV = {
  ...process.env,
  TRUSTPLANE_PASSWORD_HASH__MEMORY_KIB: '8192',
  TRUSTPLANE_PASSWORD_HASH__ITERATIONS: '5',
  TRUSTPLANE_LOG: 'warn',
};

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), 'tp-e2e-'));
  const port = await freePort();
  const proc = spawn(BIN, ['--data', data, 'serve', '--listen', `127.0.0.1:${port}`], {
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const bootstrapUrl = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start:\n${out}\n${err}`)), 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/(http:\/\/\S+\/bootstrap\?token=\S+)/);
      if (m) { clearTimeout(timer); res(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); rej(new Error(`server exited ${code}:\n${err}`)); });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    data,
    bootstrapUrl,
    logs: () => err,
    cli(args, stdin) {
      const r = spawnSync(BIN, ['--data', data, ...args], { env: ENV, input: stdin ?? '', encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`trustplane ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((res) => (proc.exitCode !== null ? res() : proc.on('exit', res)));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** Signs in through the real login form; returns the navigation response of the POST. */
export async function signIn(page, base, username, password) {
  await page.goto(`${base}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
    page.click('button[type=submit]'),
  ]);
  await page.waitForLoadState();
  return resp;
}

/** Collects console errors (CSP violations included) of every page in a context. */
export function watchConsole(ctx) {
  const errors = [];
  ctx.on('page', (p) => p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); }));
  return errors;
}
