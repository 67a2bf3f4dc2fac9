// OpenFeature's stock OFREP providers, unmodified, against the real server: the web provider
// (@openfeature/ofrep-web-provider, bundled as an application would) in Chromium on an allowed
// origin, with `cacheMode: 'disabled'` as the docs require; the server provider
// (@openfeature/ofrep-provider) in this Node process.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { OpenFeature as ServerFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { VISITOR_UA, launch, origin, siteWith, startDemo, startPersonify, visitor, warm } from './harness.mjs';

const MORTGAGES = 'https://bank.example/mortgages/fixed-rate';
const ADVISER = 'Talk to a mortgage adviser';

let browser, server, demo;
const responses = [];

before(async () => {
  const site = await origin();
  server = await startPersonify({ origins: [site.url] });
  const bundle = await build({
    stdin: {
      contents: `import { OpenFeature } from '@openfeature/web-sdk';
        import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
        window.openfeature = { OpenFeature, OFREPWebProvider };`,
      resolveDir: new URL('.', import.meta.url).pathname,
    },
    bundle: true,
    format: 'iife',
    write: false,
  });
  const html = '<!doctype html><html><head><title>OFREP</title><script src="/openfeature.js"></script></head><body></body></html>';
  demo = await startDemo({
    endpoint: server.url,
    port: site.port,
    dir: siteWith({ 'openfeature.js': bundle.outputFiles[0].text, 'ofrep.html': html }),
  });
  browser = await launch();
  await warm(browser, demo.url, server.url);
});
after(async () => {
  await browser?.close();
  for (const s of [demo, server]) await s?.stop();
});

/** A US visitor's page with the web provider bundle; OFREP answers are recorded in `responses`. */
async function page() {
  const { context, page } = await visitor(browser, { country: 'US', personify: server.url });
  // The harness adds the CDN's country header to /v1/ calls; the OFREP routes get it the same way.
  await context.route(`${server.url}/ofrep/**`, (route) =>
    route.continue({ headers: { ...route.request().headers(), 'cf-ipcountry': 'US' } }),
  );
  page.on('response', (r) => r.url().includes('/ofrep/') && r.request().method() === 'POST' && responses.push(r.status()));
  await page.goto(demo.url + '/ofrep');
  return { context, page };
}

/** Sets the provider (or the context) in the page and returns the sidebar's and hero's details. */
function evaluate(page, step, evaluationContext) {
  return page.evaluate(
    async ({ step, base, evaluationContext }) => {
      const { OpenFeature, OFREPWebProvider } = window.openfeature;
      if (step === 'init') {
        await OpenFeature.setProviderAndWait(new OFREPWebProvider({ baseUrl: base, cacheMode: 'disabled' }), evaluationContext);
      } else {
        await OpenFeature.setContext(evaluationContext);
      }
      const client = OpenFeature.getClient();
      const { flagMetadata: _, ...sidebar } = client.getObjectDetails('sidebar', {});
      const hero = client.getObjectDetails('hero', {});
      return { sidebar, hero };
    },
    { step, base: server.url, evaluationContext },
  );
}

test('the stock web provider gets decisions, a 304 while nothing changed, and defaults after an opt-out', async () => {
  const { context, page: p } = await page();
  const id = crypto.randomUUID();
  const ctx = { targetingKey: id, url: MORTGAGES, referrer: 'https://www.google.co.uk/' };
  responses.length = 0;

  const first = await evaluate(p, 'init', ctx);
  assert.equal(first.sidebar.value.title, ADVISER);
  assert.equal(first.sidebar.reason, 'TARGETING_MATCH');
  assert.equal(first.sidebar.variant, 'mortgage_advisor_callback');
  assert.equal(first.hero.reason, 'SPLIT');
  assert.equal(first.hero.flagMetadata.experiment, 'mortgage_hero_2026q4');

  // The same context again: the provider sends the ETag it read, the server answers 304.
  const same = await evaluate(p, 'context', { ...ctx });
  assert.equal(same.sidebar.value.title, ADVISER);
  assert.deepEqual(responses, [200, 304]);

  // The visitor opts out; the next context change must not be answered 304 with the old flags.
  const out = await fetch(server.url + '/v1/opt-out', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ visitor_id: id }),
  });
  assert.ok(out.ok, `opt-out: ${out.status}`);
  const after = await evaluate(p, 'context', { ...ctx });
  assert.deepEqual(responses, [200, 304, 200]);
  assert.equal(after.sidebar.reason, 'DISABLED');
  assert.equal(after.sidebar.variant, 'generic_help');
  assert.notEqual(after.sidebar.value.title, ADVISER);
  assert.equal(after.hero.reason, 'DISABLED');
  assert.equal(p.errors.length, 0, p.errors.join('\n'));
  await context.close();
});

test('a context change that carries Consent Mode "denied" de-personalises', async () => {
  const { context, page: p } = await page();
  const ctx = { targetingKey: crypto.randomUUID(), url: MORTGAGES };
  const first = await evaluate(p, 'init', ctx);
  assert.equal(first.sidebar.value.title, ADVISER);
  const denied = await evaluate(p, 'context', {
    ...ctx,
    consent: { google_consent_mode: { personalization_storage: 'denied' } },
  });
  assert.equal(denied.sidebar.reason, 'DISABLED');
  assert.notEqual(denied.sidebar.value.title, ADVISER);
  const granted = await evaluate(p, 'context', {
    ...ctx,
    consent: { google_consent_mode: { personalization_storage: 'granted' } },
  });
  assert.equal(granted.sidebar.value.title, ADVISER);
  await context.close();
});

test('the stock server provider evaluates single flags in Node, errors as the protocol names them', async () => {
  ServerFeature.setProvider(
    new OFREPProvider({
      baseUrl: server.url,
      // What a frontend server forwards from its visitor's request (here: a US desktop browser).
      headers: [
        ['CF-IPCountry', 'US'],
        ['User-Agent', VISITOR_UA],
      ],
    }),
  );
  const client = ServerFeature.getClient();
  const ctx = { targetingKey: crypto.randomUUID(), url: MORTGAGES };
  const sidebar = await client.getObjectDetails('sidebar', {}, ctx);
  assert.equal(sidebar.value.title, ADVISER);
  assert.equal(sidebar.reason, 'TARGETING_MATCH');
  assert.equal(sidebar.variant, 'mortgage_advisor_callback');
  assert.equal(sidebar.flagMetadata.consent_basis, 'jurisdiction_opt_out');
  assert.equal(sidebar.errorCode, undefined);

  const fallback = { title: 'code default' };
  const missing = await client.getObjectDetails('no_such_slot', fallback, ctx);
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  assert.deepEqual(missing.value, fallback);
  const email = await client.getObjectDetails('sidebar', fallback, { ...ctx, targetingKey: 'jane@example.com' });
  assert.equal(email.errorCode, 'INVALID_CONTEXT');
  assert.ok(!String(email.errorMessage).includes('jane'), email.errorMessage);
  assert.deepEqual(email.value, fallback);
  await ServerFeature.close();
});
