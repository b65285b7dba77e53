// Starts the real trustplane binary on a free port with its own data directory, and drives
// Debian's Chromium through playwright-core. Builds nothing: the binary comes from TRUSTPLANE_BIN.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

export const BIN = resolve(process.env.TRUSTPLANE_BIN ?? resolve(import.meta.dirname, '../../target/debug/trustplane'));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const PASSWORD = 'correct horse battery staple';

// The server reads every TRUSTPLANE_* variable as configuration and refuses unknown keys, so the
// children get none of ours (TRUSTPLANE_BIN included, nor a developer's TRUSTPLANE_DATABASE_URL):
// only the settings below. Fast Argon2 parameters (still above the enforced floor) keep it quick.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toUpperCase().startsWith('TRUSTPLANE_')));
Object.assign(ENV, {
  TRUSTPLANE_PASSWORD_HASH__MEMORY_KIB: '8192',
  TRUSTPLANE_PASSWORD_HASH__ITERATIONS: '5',
  TRUSTPLANE_LOG: 'warn',
});

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

// Whatever happens to the test process (failed hook, uncaught error, Ctrl-C), no server outlives
// it and no data directory is left behind.
const running = new Map(); // process -> its data directory
function killAll() {
  for (const [p, dir] of running) {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

function exited(proc) {
  return new Promise((res) => (proc.exitCode !== null || proc.signalCode !== null ? res() : proc.once('exit', () => res())));
}

export async function startServer() {
  if (!existsSync(BIN)) {
    throw new Error(`no trustplane binary at ${BIN}: run \`cargo build -p trustplane\` or set TRUSTPLANE_BIN`);
  }
  const data = mkdtempSync(join(tmpdir(), 'tp-e2e-'));
  const port = await freePort();
  const proc = spawn(BIN, ['--data', data, 'serve', '--listen', `127.0.0.1:${port}`], {
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.set(proc, data);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdout.on('data', (d) => { out += d; });

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited(proc);
      clearTimeout(timer);
    }
    running.delete(proc);
    rmSync(data, { recursive: true, force: true });
  };

  let bootstrapUrl;
  try {
    bootstrapUrl = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`server did not print a bootstrap URL in 15 s:\n${out}\n${err}`)), 15000);
      proc.stdout.on('data', () => {
        const m = out.match(/(https?:\/\/\S+\/bootstrap\?token=\S+)/);
        if (m) { clearTimeout(timer); res(m[1]); }
      });
      proc.once('error', (e) => { clearTimeout(timer); rej(e); });
      proc.once('exit', (code) => { clearTimeout(timer); rej(new Error(`server exited ${code}:\n${err}`)); });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const base = `http://127.0.0.1:${port}`;
  assert(new URL(bootstrapUrl).port === String(port), `bootstrap URL ${bootstrapUrl} is on port ${port}`);
  return {
    base,
    data,
    bootstrapUrl,
    logs: () => err,
    /** Runs the admin CLI on the same data directory; fails the test on a non-zero exit. */
    cli(args, stdin) {
      const r = spawnSync(BIN, ['--data', data, ...args], { env: ENV, input: stdin ?? '', encoding: 'utf8', timeout: 20000 });
      if (r.status !== 0) throw new Error(`trustplane ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout;
    },
    stop,
  };
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** Signs in through the real login form; returns the response to the form's POST. */
export async function signIn(page, base, username, password) {
  await page.goto(`${base}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
    page.click('button:has-text("Sign in")'),
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
