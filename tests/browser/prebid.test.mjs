// The Prebid RTD provider (sdk/personifyRtdProvider.js) in a real page, bundled with Prebid.js itself,
// against the real server: an auction's first-party data carries personify's user.data, and nothing
// without consent.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { launch, open, origin, siteWith, startDemo, startPersonify, visitor, warm } from './harness.mjs';

const here = new URL('.', import.meta.url).pathname;

/** Prebid.js 11 as a site bundles it, plus personify's provider and a bidder that records its request. */
async function prebidBundle() {
  const r = await build({
    stdin: {
      // prebid.js's package exports hide src/hook.js, where third-party RTD providers register.
      contents: `
        import pbjs from 'prebid.js';
        import 'prebid.js/modules/rtdModule';
        import { submodule } from './node_modules/prebid.js/dist/src/src/hook.js';
        import { registerBidder } from './node_modules/prebid.js/dist/src/src/adapters/bidderFactory.js';
        import { personifySubmodule } from '../../sdk/personifyRtdProvider.js';
        submodule('realTimeData', personifySubmodule);
        registerBidder({
          code: 'recorder',
          isBidRequestValid: () => true,
          buildRequests(requests, bidderRequest) { window.__ortb2 = bidderRequest.ortb2; return []; },
          interpretResponse: () => [],
        });
        window.pbjs = pbjs;
        pbjs.processQueue();`,
      resolveDir: here,
    },
    bundle: true,
    format: 'iife',
    write: false,
    logLevel: 'error',
  });
  return r.outputFiles[0].text;
}

const AUCTION_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Mortgage rates</title><script src="/prebid-bundle.js"></script></head>
<body><h1>Mortgage rates</h1><div id="ad"></div>
<script>
  window.auction = new Promise(function (resolve) {
    pbjs.setConfig({ realTimeData: { auctionDelay: 3000, dataProviders: [{ name: 'personify', waitForIt: true,
      params: { endpoint: 'http://127.0.0.1:8080/v1/rtb/segments', timeoutMs: 3000 } }] } });
    pbjs.requestBids({
      adUnits: [{ code: 'ad', mediaTypes: { banner: { sizes: [[300, 250]] } }, bids: [{ bidder: 'recorder', params: {} }] }],
      timeout: 3000,
      bidsBackHandler: function () { resolve(JSON.stringify(window.__ortb2 || null)); },
    });
  });
</script></body></html>`;

let browser, server, demo;
before(async () => {
  const site = await origin();
  server = await startPersonify({ origins: [site.url], env: { PERSONIFY__COUNTS__RELEASE_REFRESH_SECONDS: '1' } });
  const dir = siteWith({ 'prebid-bundle.js': await prebidBundle(), 'mortgages/auction.html': AUCTION_PAGE });
  demo = await startDemo({ endpoint: server.url, port: site.port, dir });
  browser = await launch();
  await warm(browser, demo.url, server.url);
});
after(async () => {
  await browser?.close();
  await demo?.stop();
  await server?.stop();
});

async function auction(country) {
  const { context, page } = await visitor(browser, { country, personify: server.url });
  const call = page.waitForResponse((r) => r.url().endsWith('/v1/rtb/segments'));
  await page.goto(demo.url + '/mortgages/auction');
  const ortb2 = JSON.parse(await page.evaluate(() => window.auction));
  const answer = await call;
  assert.equal(answer.status(), 200, 'the page may call personify without a token');
  const explanation = (await answer.json()).personify;
  assert.deepEqual(page.errors, []);
  await context.close();
  return { ortb2, explanation };
}

const personifyData = (ortb2) => ((ortb2 && ortb2.user && ortb2.user.data) || []).filter((d) => d.name === 'personify.bank.example');

test("a US visitor's auction carries personify's audience buckets in user.data", async () => {
  // One mortgage page view makes the segment k-anonymous (k = 1 here) once the release set refreshes.
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  await open(page, demo.url + '/mortgages');
  await context.close();
  let data = [];
  for (let i = 0; i < 10 && !data.length; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    data = personifyData((await auction('US')).ortb2);
  }
  assert.equal(data.length, 1, JSON.stringify(data));
  assert.equal(data[0].ext.segtax, 4);
  assert.deepEqual(data[0].segment.map((s) => s.id).sort(), ['1394']);
});

test('a DE visitor without consent adds nothing to the auction', async () => {
  const { ortb2, explanation } = await auction('DE');
  assert.equal(explanation.consent.basis, 'jurisdiction_opt_in');
  assert.equal(explanation.consent.advertise, false);
  assert.deepEqual(personifyData(ortb2), []);
});
