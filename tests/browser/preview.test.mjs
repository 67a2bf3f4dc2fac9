// Preview for UAT through the SDK in Chromium: a page opened with ?personify_preview=<token minted by
// the API> gets the forced decisions ("preview": true) and is not counted; an expired or forged token
// is ignored (a normal, counted decision).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADMIN_TOKEN, bankSite, open, shot, text, visitor } from './harness.mjs';

const HERO = '[data-personify-slot="hero"] [data-personify-field="headline"]';
const SIDEBAR = '[data-personify-slot="sidebar"] [data-personify-field="title"]';
const STUDENT_HERO = 'A student account with a 0% overdraft';
const SAVINGS_SIDEBAR = 'See your savings grow';

const env = bankSite();

async function admin(path, body) {
  const res = await fetch(env.server.url + path, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

/** Today's views by segment id, as the store counted them: reports release only closed days, so the
 * counters are read from the server's SQLite file (after a report, which flushes the node's counts). */
async function reach() {
  await admin('/v1/admin/reports/segments');
  const out = execFileSync('python3', ['-c', `
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
rows = db.execute("SELECT key, SUM(value) FROM counters WHERE kind = 'views' GROUP BY key").fetchall()
print(json.dumps(dict(rows)))
`, join(env.server.data, 'personify.db')]);
  return JSON.parse(out.toString());
}

/** Opens `path` of the demo site and returns the SDK's outcome and the server's decide answer. */
async function visit(path) {
  const { context, page } = await visitor(env.browser, { country: 'US', personify: env.server.url });
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/decide')).then((r) => r.json());
  const status = await open(page, env.demo.url + path);
  return { context, page, status, answer: await answer };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a page opened with a minted preview token gets the forced decisions and is not counted; a forged one is ignored', async () => {
  const minted = await admin('/v1/admin/preview', { segments: ['savers'], variants: { hero: 'student_account' }, expires_in_seconds: 600 });
  assert.equal(minted.url_parameter, 'personify_preview');
  const before = await reach();

  const shown = await visit(`/?personify_preview=${encodeURIComponent(minted.token)}`);
  assert.equal(shown.answer.preview, true, JSON.stringify(shown.answer));
  assert.equal(shown.answer.consent.basis, 'preview');
  assert.equal(shown.answer.decisions.hero.variant, 'student_account');
  assert.equal(shown.answer.decisions.sidebar.variant, 'savings_calculator', 'the forced segment decides the sidebar');
  assert.equal(shown.status.preview, true, 'the SDK tells the page it is a preview');
  assert.equal(shown.status.decisions.hero.variant, 'student_account');
  assert.equal(await text(shown.page, HERO), STUDENT_HERO);
  assert.equal(await text(shown.page, SIDEBAR), SAVINGS_SIDEBAR);
  await shot(shown.page, 'preview-home-as-saver');
  assert.deepEqual(shown.page.errors, []);
  await shown.context.close();

  // A forged token (the real one with its signature's last character changed) and an expired one:
  // ignored with a warning, a normal decision for the page, counted like any other view.
  const last = minted.token.slice(-1);
  const forged = minted.token.slice(0, -1) + (last === 'A' ? 'B' : 'A');
  const short = await admin('/v1/admin/preview', { segments: ['students'], expires_in_seconds: 1 });
  await sleep(2100);
  for (const token of [forged, short.token]) {
    const normal = await visit(`/savings?personify_preview=${encodeURIComponent(token)}`);
    assert.equal(normal.answer.preview, undefined, JSON.stringify(normal.answer));
    assert.ok(normal.answer.warnings.some((w) => w.code === 'preview_ignored'), JSON.stringify(normal.answer.warnings));
    assert.ok(!JSON.stringify(normal.answer).includes(token), 'the token is never echoed');
    assert.equal(normal.status.preview, undefined);
    assert.equal(normal.status.consent.basis, 'jurisdiction_opt_out');
    assert.equal(normal.answer.decisions.hero.variant, 'savings_isa', 'the savings page decides as usual');
    assert.equal(await text(normal.page, SIDEBAR), SAVINGS_SIDEBAR);
    await normal.context.close();
  }

  // The two ignored-token views of the savings page are counted (flushes every second); by then the
  // preview view, made before them, would have been too: the counts show only the normal views.
  let now;
  for (let i = 0; i < 100; i++) {
    now = await reach();
    if ((now.savers ?? 0) >= (before.savers ?? 0) + 2) break;
    await sleep(100);
  }
  assert.equal(now.savers, (before.savers ?? 0) + 2, `only the two normal views of savers are counted: ${JSON.stringify({ before, now })}`);
});
