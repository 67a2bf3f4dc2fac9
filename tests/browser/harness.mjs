// Real processes on loopback: personify servers, `personify demo` sites, a delaying proxy, Chromium.
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const BIN = process.env.PERSONIFY_BIN || join(REPO, 'target/debug/personify');
export const ARTIFACTS = process.env.PERSONIFY_ARTIFACTS || join(REPO, 'target/browser-artifacts');
export const ADMIN_TOKEN = 'browser-test-admin-token-0123456789abcdef';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const VISITOR_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
mkdirSync(ARTIFACTS, { recursive: true });

const children = new Set();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitFor(url, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}\n${child.log}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up\n${child.log}`);
}

function run(args, env) {
  const child = spawn(BIN, args, { cwd: REPO, env: { ...process.env, RUST_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.log = '';
  child.stdout.on('data', (d) => (child.log += d));
  child.stderr.on('data', (d) => (child.log += d));
  children.add(child);
  return child;
}

function stopper(child) {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }).then(() => children.delete(child));
}

/**
 * A personify server on a free port with its own store (or the store in `data`, to restart on it);
 * `origins` may call it from a browser; `args` go before the (default) serve command.
 */
export async function startPersonify({ origins = [], rulesDir, env = {}, args = [], data } = {}) {
  const port = await freePort();
  data = data || mkdtempSync(join(tmpdir(), 'personify-browser-'));
  const child = run(args, {
    PERSONIFY__SERVER__PORT: String(port),
    PERSONIFY__SERVER__WORKERS: '2',
    PERSONIFY__STORE__URL: `sqlite://${data}/personify.db`,
    // The log key lives beside the data directory, never inside it (the server refuses that).
    PERSONIFY__CONSENT__LOG_KEY_FILE: `${data}.log.key`,
    PERSONIFY__CONSENT__CHECKPOINT_DIR: '',
    PERSONIFY__CORS__ALLOWED_ORIGINS: origins.join(','),
    PERSONIFY__COUNTS__FLUSH_SECONDS: '1',
    PERSONIFY__PRIVACY__K: '1',
    PERSONIFY_ADMIN_TOKEN: ADMIN_TOKEN,
    ...(rulesDir ? { PERSONIFY__RULES__DIR: rulesDir } : {}),
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, child);
  return { url, port, data, stop: stopper(child) };
}

/** `personify demo` serving `dir` (default the example site) with pages pointing at `endpoint`. */
export async function startDemo({ endpoint, dir = join(REPO, 'examples/bank-site'), port } = {}) {
  port = port || (await freePort());
  const child = run(['demo', '--port', String(port), '--endpoint', endpoint, '--dir', dir], {});
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/`, child);
  return { url, port, stop: stopper(child) };
}

/** Reserves an origin (a port) before the server that must allow it is started. */
export async function origin() {
  const port = await freePort();
  return { port, url: `http://127.0.0.1:${port}` };
}

/** A copy of the example site with extra files, for fixture pages. */
export function siteWith(files) {
  const dir = mkdtempSync(join(tmpdir(), 'personify-site-'));
  cpSync(join(REPO, 'examples/bank-site'), dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A proxy in front of `target` that holds every API answer (`/v1/…`) for `delayMs`: a slow server. */
export async function slowProxy(target, delayMs) {
  const port = await freePort();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const up = request(target + req.url, { method: req.method, headers: req.headers }, (answer) => {
        setTimeout(() => {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
        }, req.url.startsWith('/v1/') ? delayMs : 0);
      });
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((r) => server.close(r)) };
}

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * A fresh visitor (own storage). `country` is sent to personify as CF-IPCountry, the header a CDN in
 * front of it would add; page errors and console errors are collected.
 */
export async function visitor(browser, { country, personify, init, deadlineMs = 3000 } = {}) {
  // A visitor's desktop Chrome: headless Chromium says "HeadlessChrome", which personify rightly
  // classes as a bot (defaults only, never counted).
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, userAgent: VISITOR_UA });
  // Added on the way to personify, after the page's CORS checks, as the CDN in front of it would.
  if (country && personify) {
    await context.route(`${personify}/v1/**`, (route) =>
      route.continue({ headers: { ...route.request().headers(), 'cf-ipcountry': country } }),
    );
  }
  // The page's own deadline (data-deadline-ms), longer than the default unless a test is about it:
  // a busy CI machine must not turn a slow run into a wrong answer.
  if (deadlineMs) {
    await context.addInitScript((ms) => {
      new MutationObserver((_, observer) => {
        const s = document.querySelector('script[src$="/sdk/personify.js"]');
        if (s) {
          s.setAttribute('data-deadline-ms', String(ms));
          observer.disconnect();
        }
      }).observe(document, { childList: true, subtree: true });
    }, deadlineMs);
  }
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.errors = [];
  page.consoleErrors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && page.consoleErrors.push(m.text()));
  return { context, page };
}

/** One throwaway page view, so a test's first measured one does not pay for cold connections. */
export async function warm(browser, demoUrl, personifyUrl) {
  // The server's first decision pays one-time costs (seconds in a debug build on a busy machine),
  // longer than the SDK's deadline: pay them here, without a deadline.
  await fetch(personifyUrl + '/v1/decide', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': VISITOR_UA, 'cf-ipcountry': 'US' },
    body: JSON.stringify({ page: { url: 'https://bank.example/' } }),
  });
  const { context, page } = await visitor(browser, { country: 'US', personify: personifyUrl });
  await open(page, demoUrl + '/');
  await context.close();
}

/**
 * For a test file's tests: a server that allows a demo site's origin, the example bank served on it,
 * and a warmed Chromium, started before the first test and stopped after the last. Their handles are
 * the returned object's `browser`, `server` and `demo`, set once the `before` hook has run.
 */
export function bankSite() {
  const env = {};
  before(async () => {
    const site = await origin();
    env.server = await startPersonify({ origins: [site.url] });
    env.demo = await startDemo({ endpoint: env.server.url, port: site.port });
    env.browser = await launch();
    await warm(env.browser, env.demo.url, env.server.url);
  });
  after(async () => {
    await env.browser?.close();
    await env.demo?.stop();
    await env.server?.stop();
  });
  return env;
}

/** Loads `url` and waits for the SDK's first outcome; returns it. */
export async function open(page, url) {
  await page.goto(url);
  return page.evaluate(() => window.personify.ready);
}

export async function storageOf(page) {
  return page.evaluate(() => Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])));
}

export function text(page, selector) {
  return page.locator(selector).first().textContent();
}

/** `UPDATE_SCREENSHOTS=1`: the console's page screenshots also replace those in docs/ (for the README). */
export const UPDATE_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const DOCS_SCREENSHOTS = join(REPO, 'docs/screenshots');

/**
 * Saves a screenshot already taken to `file` (in the artefacts) as docs/screenshots/`name`.png, only
 * when UPDATE_SCREENSHOTS=1: a test run never dirties the tree otherwise.
 */
export function publishScreenshot(file, name) {
  if (!UPDATE_SCREENSHOTS) return;
  mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
  copyFileSync(file, join(DOCS_SCREENSHOTS, `${name}.png`));
}

export function shot(page, name) {
  return page.screenshot({ path: join(ARTIFACTS, name + '.png'), fullPage: true });
}
