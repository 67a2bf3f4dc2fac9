// Consent signals a page carries: a real TCF CMP (@iabtcf/cmpapi) with TC strings made by
// @iabtcf/core, and Global Privacy Control.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import * as tcf from '@iabtcf/core';
import { launch, open, origin, siteWith, startDemo, startPersonify, storageOf, text, visitor, warm } from './harness.mjs';

const SIDEBAR = '[data-personify-slot="sidebar"] [data-personify-field="title"]';
const ALL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

function gvl() {
  const named = (ids) => Object.fromEntries(ids.map((id) => [id, { id, name: `Purpose ${id}`, description: '', illustrations: [] }]));
  return new tcf.GVL({
    gvlSpecificationVersion: 3, vendorListVersion: 150, tcfPolicyVersion: 5, lastUpdated: '2026-11-01T16:00:00Z',
    purposes: named(ALL), specialPurposes: named([1, 2, 3]), features: named([1, 2, 3]), specialFeatures: named([1, 2]),
    stacks: {}, dataCategories: named([1]),
    vendors: { 1: { id: 1, name: 'Vendor 1', purposes: ALL, legIntPurposes: [], flexiblePurposes: [], specialPurposes: [], features: [], specialFeatures: [], usesCookies: false, cookieMaxAgeSeconds: 0, usesNonCookieAccess: false, dataDeclaration: [1], urls: [] } },
  });
}

async function tcString(purposes) {
  const list = gvl();
  await list.readyPromise;
  const m = new tcf.TCModel(list);
  m.cmpId = 31;
  m.cmpVersion = 4;
  m.consentScreen = 1;
  m.publisherCountryCode = 'DE';
  m.isServiceSpecific = true;
  m.purposeConsents.set(purposes);
  m.vendorConsents.set([1]);
  return tcf.TCString.encode(m);
}

/** A page whose CMP (the IAB's own CmpApi, bundled) answers with `tc` before the SDK loads. */
async function cmpPage(tc) {
  const bundle = await build({
    stdin: {
      contents: `import { CmpApi } from '@iabtcf/cmpapi';
        const api = new CmpApi(31, 4, true);
        api.update(${JSON.stringify(tc)}, false);`,
      resolveDir: new URL('.', import.meta.url).pathname,
    },
    bundle: true,
    format: 'iife',
    write: false,
  });
  const mortgages = (await (await fetch(demo.url + '/mortgages')).text())
    .replace('<script src="/banner.js" defer></script>', '')
    .replace('<link rel="stylesheet" href="/site.css">', '<link rel="stylesheet" href="/site.css">\n<script src="/cmp.js"></script>');
  return { 'cmp.js': bundle.outputFiles[0].text, 'mortgages/cmp.html': mortgages.replaceAll(server.url, 'http://127.0.0.1:8080') };
}

let browser, server, demo, site;
const stops = [];
before(async () => {
  site = await origin();
  server = await startPersonify({ origins: [site.url] });
  demo = await startDemo({ endpoint: server.url, port: site.port });
  browser = await launch();
  await warm(browser, demo.url, server.url);
});
after(async () => {
  await browser?.close();
  for (const s of [demo, server, ...stops]) await s?.stop();
});

async function withCmp(tc, run) {
  const files = await cmpPage(tc);
  // The CMP page is served from the same allowed origin: stop the plain demo, serve the fixture copy.
  await demo.stop();
  const fixture = await startDemo({ endpoint: server.url, port: site.port, dir: siteWith(files) });
  try {
    await run(fixture);
  } finally {
    await fixture.stop();
    demo = await startDemo({ endpoint: server.url, port: site.port });
  }
}

test('a TC string with purposes 1, 2, 7, 8 and 11 grants contextual content, measurement, ads and storage', async () => {
  const tc = await tcString([1, 2, 7, 8, 11]);
  await withCmp(tc, async (fixture) => {
    const { context, page } = await visitor(browser, { country: 'DE', personify: server.url });
    const s = await open(page, fixture.url + '/mortgages/cmp');
    assert.equal(s.consent.basis, 'tcf');
    assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [true, true, true]);
    assert.equal(s.signals.tcf, true);
    assert.equal(await text(page, SIDEBAR), 'Talk to a mortgage adviser');
    const stored = await storageOf(page);
    assert.ok(stored['personify.id'], 'purpose 1: a visitor id may be stored');
    assert.ok(stored['personify.session']);
    await context.close();
  });
});

test('without purpose 1 content may still be chosen, but nothing is stored on the device', async () => {
  const tc = await tcString([2, 7, 8, 11]);
  await withCmp(tc, async (fixture) => {
    const { context, page } = await visitor(browser, { country: 'DE', personify: server.url });
    const s = await open(page, fixture.url + '/mortgages/cmp');
    assert.equal(s.consent.basis, 'tcf');
    assert.equal(s.consent.personalize, true);
    assert.equal(await text(page, SIDEBAR), 'Talk to a mortgage adviser');
    assert.deepEqual(await storageOf(page), {});
    await context.close();
  });
});

test('a TC string refusing everything keeps the defaults', async () => {
  const tc = await tcString([]);
  await withCmp(tc, async (fixture) => {
    const { context, page } = await visitor(browser, { country: 'DE', personify: server.url });
    const s = await open(page, fixture.url + '/mortgages/cmp');
    assert.equal(s.consent.basis, 'tcf');
    assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [false, false, false]);
    assert.equal(await text(page, SIDEBAR), 'Need help?');
    assert.deepEqual(await storageOf(page), {});
    await context.close();
  });
});

test('navigator.globalPrivacyControl denies advertising, and nothing else, for a US visitor', async () => {
  const { context, page } = await visitor(browser, {
    country: 'US',
    personify: server.url,
    init: () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  });
  const s = await open(page, demo.url + '/mortgages');
  assert.equal(s.signals.gpc, true);
  assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [true, true, false]);
  assert.equal(await text(page, SIDEBAR), 'Talk to a mortgage adviser');
  await context.close();
});

test('Sec-GPC: 1 from the browser denies advertising too', async () => {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  await context.setExtraHTTPHeaders({ 'Sec-GPC': '1' });
  const s = await open(page, demo.url + '/mortgages');
  assert.equal(s.consent.advertise, false);
  assert.equal(s.consent.personalize, true);
  await context.close();
});
