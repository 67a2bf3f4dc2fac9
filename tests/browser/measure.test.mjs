// Conversions reach the reports; the SDK's size and how fast slots fill on loopback.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, ARTIFACTS, REPO, launch, open, origin, startDemo, startPersonify, text, visitor, warm } from './harness.mjs';

let browser, server, demo;
before(async () => {
  const site = await origin();
  // One arm and no holdout: with k = 1 the report releases the arm as soon as one visitor saw it
  // (a report is suppressed while its control arm is below k).
  const rules = mkdtempSync(join(tmpdir(), 'personify-rules-'));
  cpSync(join(REPO, 'segment_rules'), rules, { recursive: true });
  const file = join(rules, 'content.toml');
  const toml = readFileSync(file, 'utf8')
    .replace('experiment.holdout_percent = 10', 'experiment.holdout_percent = 0')
    .replace('  { variant = "mortgage_rates", weight = 50 },\n', '')
    .replace('{ variant = "mortgage_calculator", weight = 50 }', '{ variant = "mortgage_calculator", weight = 100 }');
  writeFileSync(file, toml);
  server = await startPersonify({ origins: [site.url], rulesDir: rules });
  demo = await startDemo({ endpoint: server.url, port: site.port });
  browser = await launch();
  await warm(browser, demo.url, server.url);
});
after(async () => {
  await browser?.close();
  await demo?.stop();
  await server?.stop();
});

async function report(path) {
  const r = await fetch(server.url + path, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}

test('a conversion beacon is counted on the arm the visitor saw', async () => {
  // A returning first-party visitor (an id the SDK stored after an earlier consent): experiments count
  // first-party visitors only; a cookieless key changes daily, so it is not a unit.
  const { context, page } = await visitor(browser, {
    country: 'US',
    personify: server.url,
    init: () => window.localStorage.setItem('personify.id', '6f1d2c3b-8a4e-4b7f-9c1d-2e3f4a5b6c7d'),
  });
  const s = await open(page, demo.url + '/tools/mortgage-calculator');
  assert.equal(s.decided, true, JSON.stringify(s));
  const arm = s.decisions.hero.experiment.arm;
  assert.equal(arm, 'mortgage_calculator');
  const beacons = [];
  page.on('request', (r) => r.url().endsWith('/v1/events') && beacons.push(r));
  await page.click('#apply');
  await page.waitForTimeout(100);
  assert.equal(beacons.length, 1);
  assert.match(beacons[0].headers()['content-type'], /^text\/plain/);
  // The report is the experiment's analysis period so far, exact counts of first-party visitors.
  let row, converted;
  for (let i = 0; i < 40 && !(converted >= 1); i++) {
    await new Promise((r) => setTimeout(r, 250));
    const rep = await report('/v1/admin/reports/experiments/mortgage_hero_2026q4');
    row = rep.analysis.arms.find((a) => a.label === arm);
    converted = row?.goals.find((g) => g.goal === 'mortgage_application')?.conversions;
  }
  assert.equal(converted, 1, JSON.stringify(row));
  assert.equal(row.exposures, 1);
  await context.close();
});

test('SDK size and time from DOMContentLoaded to slots filled (50 loads)', async () => {
  const body = await (await fetch(server.url + '/sdk/personify.js')).text();
  const gzip = gzipSync(body, { level: 9 }).length;
  assert.ok(gzip <= 5 * 1024, `${gzip} B min+gzip`);
  const { context, page } = await visitor(browser, {
    country: 'US',
    personify: server.url,
    init: () => {
      window.__t = {};
      document.addEventListener('DOMContentLoaded', () => (window.__t.dcl = performance.now()));
      document.addEventListener('personify:decision', () => (window.__t.filled ??= performance.now()));
    },
  });
  const times = [];
  for (let i = 0; i < 50; i++) {
    await open(page, demo.url + '/mortgages');
    assert.equal(await text(page, '.sidebar h3'), 'Talk to a mortgage adviser');
    const t = await page.evaluate(() => window.__t);
    times.push(Math.max(0, t.filled - t.dcl));
  }
  await context.close();
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
  const result = { sdk_bytes: body.length, sdk_min_gzip_bytes: gzip, loads: times.length, dcl_to_filled_ms: { median: at(0.5), p95: at(0.95), max: times.at(-1) } };
  writeFileSync(join(ARTIFACTS, 'metrics.json'), JSON.stringify(result, null, 2));
  console.log(`SDK ${body.length} B minified, ${gzip} B min+gzip; DOMContentLoaded → slots filled over ${times.length} loads: median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms`);
});
