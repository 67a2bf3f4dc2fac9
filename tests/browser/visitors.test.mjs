// The example bank in Chromium against the real server: what visitors see and what their device keeps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bankSite, open, shot, storageOf, text, visitor } from './harness.mjs';

const HERO = '[data-personify-slot="hero"] [data-personify-field="headline"]';
const SIDEBAR = '[data-personify-slot="sidebar"] [data-personify-field="title"]';
const DEFAULT_HERO = 'Banking that works around you';
const DEFAULT_SIDEBAR = 'Need help?';
const MORTGAGE_SIDEBAR = 'Talk to a mortgage adviser';
const MORTGAGE_HEROES = ['Fixed rates from 4.19%', 'How much could you borrow?', DEFAULT_HERO];

const env = bankSite();

describe('a US visitor (opt-out jurisdiction)', () => {
  test('sees mortgage content replace the defaults; only the session summary is stored, and it grows', async () => {
    const { context, page } = await visitor(env.browser, { country: 'US', personify: env.server.url });
    const home = await open(page, env.demo.url + '/');
    assert.equal(home.decided, true, JSON.stringify(home));
    assert.equal(home.consent.personalize, true);
    assert.equal(home.consent.basis, 'jurisdiction_opt_out');
    assert.equal(JSON.parse((await storageOf(page))['personify.session']).pages_viewed, 1);

    await page.click('nav a[href="/mortgages"]');
    await page.waitForFunction(() => window.personify && window.personify.status().decided);
    assert.equal(await text(page, SIDEBAR), MORTGAGE_SIDEBAR);
    const hero = await page.evaluate(() => window.personify.status().decisions.hero);
    assert.ok(MORTGAGE_HEROES.includes(await text(page, HERO)));
    assert.equal(hero.experiment.id, 'mortgage_hero_2026q4');

    await page.goto(env.demo.url + '/tools/mortgage-calculator');
    await page.evaluate(() => window.personify.ready);
    assert.equal(await text(page, SIDEBAR), MORTGAGE_SIDEBAR);
    const stored = await storageOf(page);
    assert.deepEqual(Object.keys(stored), ['personify.session'], 'no visitor id without a recorded choice or TCF purpose 1');
    const session = JSON.parse(stored['personify.session']);
    assert.equal(session.pages_viewed, 3);
    assert.deepEqual(session.categories, ['mortgages']);
    assert.equal(session.returning, false);
    assert.deepEqual(await page.evaluate(() => Object.keys(sessionStorage)), []);
    assert.deepEqual(await context.cookies(), [], 'no cookie on any origin');
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test('a sensitive page shows its defaults and the page never learns the segment', async () => {
    const { context, page } = await visitor(env.browser, { country: 'US', personify: env.server.url });
    const events = [];
    await page.exposeFunction('record', (d) => events.push(d));
    await page.addInitScript(() =>
      document.addEventListener('personify:decision', (e) => window.record(JSON.stringify(e.detail))),
    );
    const s = await open(page, env.demo.url + '/bereavement-support');
    assert.equal(await text(page, HERO), DEFAULT_HERO);
    const exposed = JSON.stringify(s) + events.join('') + JSON.stringify(await page.evaluate(() => window.personify.status()));
    assert.ok(!exposed.includes('bereavement_support'), exposed);
    assert.ok(!exposed.includes('segments'), exposed);
    await context.close();
  });
});

describe('a DE visitor (opt-in jurisdiction)', () => {
  test('sees defaults until the banner consent, then segment content; opt-out reverts it', async () => {
    const { context, page } = await visitor(env.browser, { country: 'DE', personify: env.server.url });
    const first = await open(page, env.demo.url + '/mortgages');
    assert.equal(first.consent.personalize, false);
    assert.equal(first.consent.basis, 'jurisdiction_opt_in');
    assert.equal(await text(page, HERO), DEFAULT_HERO);
    assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR);
    assert.deepEqual(await storageOf(page), {}, 'nothing stored before consent');
    await page.locator('#consent-banner').waitFor({ state: 'visible' });
    await shot(page, 'de-mortgages-before-consent');

    await page.click('#consent-accept');
    await page.waitForFunction((t) => document.querySelector('[data-personify-slot="sidebar"] h3').textContent === t, MORTGAGE_SIDEBAR);
    const granted = await page.evaluate(() => window.personify.status());
    assert.equal(granted.consent.basis, 'record');
    const stored = await storageOf(page);
    assert.match(stored['personify.id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(stored['personify.session']);
    assert.ok(await page.locator('#consent-banner').isHidden());
    await shot(page, 'de-mortgages-after-consent');

    // The choice is remembered: the next page is personalised straight away.
    await open(page, env.demo.url + '/mortgages/first-time-buyers');
    assert.equal(await text(page, HERO), 'Buying your first home?');

    const optedOut = page.evaluate(() => new Promise((r) => document.addEventListener('personify:decision', (e) => r(e.detail), { once: true })));
    await page.click('#opt-out');
    const detail = await optedOut;
    assert.equal(detail.consent.basis, 'opt_out', JSON.stringify(detail));
    assert.equal(await text(page, HERO), DEFAULT_HERO, JSON.stringify([detail, page.consoleErrors]));
    assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR);
    const out = await page.evaluate(() => window.personify.status());
    assert.equal(out.consent.basis, 'opt_out');
    assert.deepEqual(
      Object.keys(await storageOf(page)).sort(),
      ['personify.choice', 'personify.id'],
      'the id stays to remember the objection; the choice is restated for ten minutes',
    );
    await shot(page, 'de-mortgages-after-opt-out');

    await open(page, env.demo.url + '/mortgages');
    assert.equal(await text(page, SIDEBAR), DEFAULT_SIDEBAR, 'the opt-out sticks');
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});

describe('the page URL the SDK sends', () => {
  test('keeps host, path and utm_* only, and passes the preview token separately', async () => {
    const { context, page } = await visitor(env.browser, { country: 'US', personify: env.server.url });
    const bodies = [];
    page.on('request', (r) => r.url().endsWith('/v1/decide') && bodies.push(JSON.parse(r.postData())));
    await open(page, env.demo.url + '/savings?utm_source=news&personify_preview=tok123&email=a%40b.example#top');
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0].page.url, env.demo.url + '/savings?utm_source=news');
    assert.equal(bodies[0].preview, 'tok123');
    assert.equal(bodies[0].page.category, 'savings');
    await context.close();
  });
});
