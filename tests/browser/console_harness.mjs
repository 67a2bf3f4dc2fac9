// What the console's browser tests share: the scoped tokens and the config that lists them, a tab that
// records every request and error, signing in, page navigation, the loopback and axe checks, and
// screenshots (artefacts; docs/ with UPDATE_SCREENSHOTS=1).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axe from 'axe-core';
import { ADMIN_TOKEN, ARTIFACTS, publishScreenshot } from './harness.mjs';

export const TOKENS = {
  admin: ADMIN_TOKEN,
  compliance: 'console-test-compliance-token-0123456789ab',
  analyst: 'console-test-analyst-token-0123456789abcd',
  ops: 'console-test-ops-token-0123456789abcdefghij',
};

/** A config directory whose local.toml lists the scoped tokens by SHA-256, as an operator would. */
export function configDir() {
  const dir = mkdtempSync(join(tmpdir(), 'personify-console-config-'));
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  const entries = ['compliance', 'analyst', 'ops']
    .map((scope) => `[[auth.tokens]]\nname = "console test, ${scope}"\nsha256 = "${sha(TOKENS[scope])}"\nscopes = ["${scope}"]\n`)
    .join('\n');
  const controller = '[controller]\nname = "Example Bank plc"\ncontact = "privacy@bank.example"\ndpo_contact = "dpo@bank.example"\n\n';
  writeFileSync(join(dir, 'local.toml'), controller + entries);
  return dir;
}

/** A console tab; every request it makes is recorded, and `bad` collects page errors and CSP reports. */
export async function consoleTab(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.requests = [];
  page.bad = [];
  context.on('request', (r) => page.requests.push(r.url()));
  page.on('pageerror', (e) => page.bad.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && page.bad.push(m.text()));
  return { context, page };
}

export async function signInAt(page, url, token) {
  await page.goto(url + '/console/');
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
}

/** Opens page `id` from the navigation and waits until it has loaded (not the page it replaces). */
export async function show(page, id) {
  if ((await page.evaluate(() => location.hash)) === `#/${id}`) {
    await page.waitForSelector(`#page-${id}[data-loaded="true"]`);
    return;
  }
  await page.evaluate(() => document.querySelector('.page')?.setAttribute('data-stale', ''));
  await page.click(`#nav-${id}`);
  await page.waitForSelector(`#page-${id}[data-loaded="true"]:not([data-stale])`);
}

/** Every request of the tab that went anywhere but the server at `url`. */
export function offLoopbackOf(page, url) {
  return page.requests.filter((u) => !u.startsWith(url + '/') && !u.startsWith('blob:' + url + '/'));
}

export async function axeCheck(page, what) {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`), [], `${what}: axe`);
}

export async function screenshot(page, name) {
  const file = join(ARTIFACTS, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  publishScreenshot(file, `console-${name}`);
}

/** The newest signed checkpoint's tree size and root, from the public route (null before the first). */
export async function checkpointOf(url) {
  const res = await fetch(url + '/v1/consent/log/checkpoint');
  if (res.status === 404) return null;
  const [, size, root] = (await res.text()).split('\n');
  return { size: Number(size), root };
}
