// When things go wrong: a slow or stopped server, hostile content, an origin not allowed.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, launch, open, origin, shot, slowProxy, startDemo, startPersonify, text, visitor, warm } from './harness.mjs';

const HERO = '[data-personify-slot="hero"] [data-personify-field="headline"]';
const SIDEBAR = '[data-personify-slot="sidebar"] [data-personify-field="title"]';
const DEFAULT_HERO = 'Banking that works around you';
const DEFAULT_SIDEBAR = 'Need help?';

let browser;
const cleanup = [];
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  for (const stop of cleanup.reverse()) await stop();
});

async function layout(page) {
  return page.evaluate(() =>
    ['header', '.hero', '.columns article', '.sidebar', 'footer'].map((s) => {
      const r = document.querySelector(s).getBoundingClientRect();
      return [s, r.x, r.y, r.width, r.height];
    }),
  );
}

test('a slow server: the deadline passes, defaults stay, the late answer is not applied', async () => {
  const site = await origin();
  const server = await startPersonify({ origins: [site.url] });
  const proxy = await slowProxy(server.url, 1200);
  const demo = await startDemo({ endpoint: proxy.url, port: site.port });
  cleanup.push(server.stop, proxy.stop, demo.stop);
  const { context, page } = await visitor(browser, { country: 'US', personify: proxy.url, deadlineMs: null });
  const started = Date.now();
  const s = await open(page, demo.url + '/mortgages');
  assert.equal(s.decided, false);
  assert.equal(s.reason, 'timeout');
  assert.ok(Date.now() - started < 1200, 'ready did not wait for the late answer');
  const before = await layout(page);
  await page.waitForTimeout(1800);
  assert.equal(await text(page, HERO), DEFAULT_HERO);
  assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR);
  assert.deepEqual(await layout(page), before, 'nothing moved');
  assert.deepEqual(page.errors, []);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
  await context.close();
});

test('a stopped server: defaults stay and no uncaught error reaches the page', async () => {
  const site = await origin();
  const server = await startPersonify({ origins: [site.url] });
  const demo = await startDemo({ endpoint: server.url, port: site.port });
  cleanup.push(demo.stop);
  // The script itself is cached by the page from a first visit; then the server goes away.
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  await open(page, demo.url + '/');
  await server.stop();
  const s = await open(page, demo.url + '/savings').catch(async () => {
    // No SDK at all (the script could not load either): the page is still the server-rendered page.
    return { decided: false, reason: 'no-script' };
  });
  assert.equal(s.decided, false);
  assert.equal(await text(page, HERO), DEFAULT_HERO);
  assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR);
  assert.deepEqual(page.errors, []);
  await shot(page, 'server-stopped-defaults');
  await context.close();
});

test('content holding markup renders as text and unsafe links are refused', async () => {
  const rules = mkdtempSync(join(tmpdir(), 'personify-rules-'));
  cpSync(join(REPO, 'segment_rules'), rules, { recursive: true });
  const file = join(rules, 'content.toml');
  const hostile = '<img src=x onerror="window.__pwned=1">';
  let toml = readFileSync(file, 'utf8')
    .replace('title = "Talk to a mortgage adviser"', `title = ${JSON.stringify(hostile)}`)
    .replace('link_url = "/mortgages/advice"', 'link_url = "javascript:window.__pwned=2"');
  writeFileSync(file, toml);
  const site = await origin();
  const server = await startPersonify({ origins: [site.url], rulesDir: rules });
  const demo = await startDemo({ endpoint: server.url, port: site.port });
  cleanup.push(server.stop, demo.stop);
  await warm(browser, demo.url, server.url);
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, demo.url + '/mortgages');
  assert.equal(s.decided, true);
  assert.equal(await text(page, SIDEBAR), hostile);
  assert.equal(await page.locator('.sidebar img').count(), 0);
  assert.equal(await page.locator('.sidebar a').getAttribute('href'), '/help', 'a javascript: URL never becomes a link');
  await page.click('.sidebar a').catch(() => {});
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await shot(page, 'hostile-content-as-text');
  await context.close();
});

test('an origin not in cors.allowed_origins is refused by the browser', async () => {
  const allowed = await origin();
  const server = await startPersonify({ origins: [allowed.url] });
  const other = await startDemo({ endpoint: server.url });
  cleanup.push(server.stop, other.stop);
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, other.url + '/mortgages');
  assert.equal(s.decided, false);
  assert.equal(s.reason, 'unavailable');
  assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR);
  assert.ok(page.consoleErrors.some((m) => /CORS/.test(m)), page.consoleErrors.join('\n'));
  assert.deepEqual(page.errors, []);
  await context.close();
});
