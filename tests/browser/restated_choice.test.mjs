// A choice the visitor just made is restated with the next page views: the purposes it denies (a
// node that has not applied the choice yet still honours the denial) and its receipt's log position
// (a node waits briefly for a grant), for ten minutes; then it is forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bankSite, open, storageOf, visitor } from './harness.mjs';

const TEN_MINUTES = 10 * 60 * 1000;
const env = bankSite();

test('consent.set and optOut restate the denied purposes and the receipt position, for ten minutes', async () => {
  const { context, page } = await visitor(env.browser, { country: 'DE', personify: env.server.url });
  const sent = [];
  page.on('request', (r) => r.url().endsWith('/v1/decide') && sent.push(JSON.parse(r.postData()).consent || {}));
  const first = await open(page, env.demo.url + '/mortgages');
  assert.equal(first.consent.basis, 'jurisdiction_opt_in');
  assert.equal(sent.at(-1).withdrawn, undefined, 'nothing to restate before a choice');

  const receipt = await page.evaluate(() => window.personify.consent.set({ personalize: true }));
  assert.equal(typeof receipt.leaf_index, 'number');
  assert.deepEqual(sent.at(-1), { withdrawn: ['measure', 'advertise'], after: receipt.leaf_index });
  const status = await page.evaluate(() => window.personify.status());
  assert.deepEqual(
    [status.consent.personalize, status.consent.measure, status.stored.choice],
    [true, false, true],
    JSON.stringify(status),
  );

  // The next page restates it too.
  const next = await open(page, env.demo.url + '/savings');
  assert.deepEqual(sent.at(-1), { withdrawn: ['measure', 'advertise'], after: receipt.leaf_index });
  assert.equal(next.consent.basis, 'record');

  // Ten minutes on, the choice is every node's: nothing is restated and the device forgets it.
  await page.evaluate((ms) => {
    const c = JSON.parse(localStorage.getItem('personify.choice'));
    c.at -= ms + 1000;
    localStorage.setItem('personify.choice', JSON.stringify(c));
  }, TEN_MINUTES);
  await open(page, env.demo.url + '/savings');
  assert.deepEqual(sent.at(-1), {});
  assert.deepEqual(Object.keys(await storageOf(page)).sort(), ['personify.id', 'personify.session']);

  const optOut = await page.evaluate(() => window.personify.optOut());
  assert.deepEqual(sent.at(-1), { withdrawn: ['personalize', 'measure', 'advertise'], after: optOut.leaf_index });
  assert.ok(optOut.leaf_index > receipt.leaf_index);
  assert.deepEqual(page.errors, []);
  await context.close();
});
