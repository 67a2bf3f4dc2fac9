// Google Consent Mode v2 as the SDK reads it: a page that sets consent as gtag does (its
// `dataLayer.push(arguments)`, before and after the SDK loads), and a CMP inside Tag Manager that
// hands the state to `personify.consent.googleConsentMode`. "denied" withholds; "granted" never grants.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { open, origin, siteWith, startDemo, startPersonify, text, visitor, warm, launch } from './harness.mjs';

const SIDEBAR = '[data-personify-slot="sidebar"] [data-personify-field="title"]';
const ADVISER = 'Talk to a mortgage adviser';

let browser, server, demo;
before(async () => {
  const site = await origin();
  server = await startPersonify({ origins: [site.url] });
  const plain = await startDemo({ endpoint: server.url, port: site.port });
  const mortgages = await (await fetch(plain.url + '/mortgages')).text();
  await plain.stop();
  // gtag's own snippet, with the consent default a CMP would set before any tag runs.
  const gtag = (defaults) => `window.dataLayer = window.dataLayer || [];
    function gtag(){dataLayer.push(arguments);}
    gtag('consent', 'default', ${JSON.stringify(defaults)});
    gtag('js', new Date());`;
  const page = (script) =>
    mortgages
      .replace('<script src="/banner.js" defer></script>', '')
      .replace('<link rel="stylesheet" href="/site.css">', `<link rel="stylesheet" href="/site.css">\n<script src="/${script}"></script>`)
      .replaceAll(server.url, 'http://127.0.0.1:8080');
  const files = {
    'gtag-denied.js': gtag({ ad_storage: 'granted', analytics_storage: 'granted', personalization_storage: 'denied' }),
    'gtag-granted.js': gtag({ ad_storage: 'granted', ad_user_data: 'granted', ad_personalization: 'granted', analytics_storage: 'granted', personalization_storage: 'granted' }),
    'gtag-regional.js': gtag({ personalization_storage: 'granted', region: ['US'] }),
    'mortgages/gcm-denied.html': page('gtag-denied.js'),
    'mortgages/gcm-granted.html': page('gtag-granted.js'),
    'mortgages/gcm-regional.html': page('gtag-regional.js'),
  };
  demo = await startDemo({ endpoint: server.url, port: site.port, dir: siteWith(files) });
  browser = await launch();
  await warm(browser, demo.url, server.url);
});
after(async () => {
  await browser?.close();
  for (const s of [demo, server]) await s?.stop();
});

/** The SDK's status once its newest decision is applied (a re-decision fires `personify:decision`). */
function redecided(page, update) {
  return page.evaluate(
    (update) =>
      new Promise((resolve) => {
        document.addEventListener('personify:decision', () => resolve(window.personify.status()), { once: true });
        window.gtag('consent', 'update', update);
      }),
    update,
  );
}

test('a gtag default of personalization_storage "denied" withholds personalisation, and an update restores it', async () => {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, demo.url + '/mortgages/gcm-denied');
  assert.equal(s.signals.google_consent_mode, true);
  assert.equal(s.consent.basis, 'google_consent_mode');
  assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [false, true, true]);
  assert.notEqual(await text(page, SIDEBAR), ADVISER);

  const updated = await redecided(page, { personalization_storage: 'granted' });
  assert.equal(updated.consent.personalize, true);
  assert.equal(updated.consent.basis, 'jurisdiction_opt_out');
  assert.equal(await text(page, SIDEBAR), ADVISER);
  assert.equal(page.errors.length, 0, page.errors.join('\n'));
  await context.close();
});

test('an update pushed later withholds: analytics_storage and ad_user_data "denied"', async () => {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, demo.url + '/mortgages/gcm-granted');
  assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [true, true, true]);
  assert.equal(await text(page, SIDEBAR), ADVISER);
  const denied = await redecided(page, { analytics_storage: 'denied', ad_user_data: 'denied' });
  assert.deepEqual([denied.consent.personalize, denied.consent.measure, denied.consent.advertise], [true, false, false]);
  assert.equal(denied.consent.basis, 'google_consent_mode');
  await context.close();
});

test('"granted" never grants: an EU visitor with everything granted keeps the opt-in default', async () => {
  const { context, page } = await visitor(browser, { country: 'DE', personify: server.url });
  const s = await open(page, demo.url + '/mortgages/gcm-granted');
  assert.equal(s.signals.google_consent_mode, true);
  assert.equal(s.consent.basis, 'jurisdiction_opt_in');
  assert.deepEqual([s.consent.personalize, s.consent.measure, s.consent.advertise], [false, false, false]);
  assert.notEqual(await text(page, SIDEBAR), ADVISER);
  await context.close();
});

test('a CMP inside Tag Manager hands its state to personify.consent.googleConsentMode', async () => {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, demo.url + '/mortgages');
  assert.equal(s.consent.personalize, true);
  const after = await page.evaluate(() => window.personify.consent.googleConsentMode({ personalization_storage: 'denied', ad_personalization: 'denied' }));
  assert.deepEqual([after.consent.personalize, after.consent.measure, after.consent.advertise], [false, true, false]);
  assert.equal(after.signals.google_consent_mode, true);
  assert.notEqual(await text(page, SIDEBAR), ADVISER);
  await context.close();
});

test('a regional default that grants is not taken: the SDK cannot know the visitor is in that region', async () => {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  const s = await open(page, demo.url + '/mortgages/gcm-regional');
  assert.equal(s.signals.google_consent_mode, false);
  assert.equal(s.consent.basis, 'jurisdiction_opt_out');
  await context.close();
});
