// The console (/console/) in Chromium against a real server that has received decisions, conversions
// and consents: every scope sees its pages and no other, a wrong token loads nothing, the CSV export is the log, verify
// reports a tampered entry, axe finds no serious or critical violation, and no request leaves
// 127.0.0.1. Screenshots of every page go to the artefacts, and to docs/screenshots/ with
// UPDATE_SCREENSHOTS=1.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, ARTIFACTS, VISITOR_UA, launch, publishScreenshot, startPersonify } from './harness.mjs';
import { TOKENS, axeCheck, checkpointOf, configDir, consoleTab, offLoopbackOf, screenshot, show, signInAt } from './console_harness.mjs';

const PAGES = ['overview', 'rules', 'compliance', 'reports'];
const SEES = {
  admin: PAGES,
  compliance: ['overview', 'rules', 'compliance'],
  analyst: ['overview', 'rules', 'reports'],
  ops: ['overview'],
};
/** Scopes that hold `ops` (and so see the rules' load time). */
const SEES_OPS = { admin: true, ops: true };
const K = 5;
const EXPERIMENT = 'mortgage_hero_2026q4';

let browser, server, config;

function start(data) {
  return startPersonify({
    args: ['--config', config],
    data,
    env: {
      PERSONIFY__PRIVACY__K: String(K),
      PERSONIFY__SERVER__CLIENT_IP_HEADER: 'X-Forwarded-For',
      PERSONIFY__LIMITS__ENABLED: 'false',
      // The Overview shows the newest signed checkpoint: sign one soon after the traffic.
      PERSONIFY__CONSENT__CHECKPOINT_SECONDS: '1',
    },
  });
}

/** A random-looking, fixed visitor id per number (the server refuses ids that do not look random). */
const vid = (i) => {
  const hex = createHash('sha256').update(`console-visitor-${i}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/** One visitor's request from its own /24 network (k counts networks too), from the US (opt-out default). */
async function send(path, i, body) {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': VISITOR_UA,
      'cf-ipcountry': 'US',
      'x-forwarded-for': `10.${i >> 8}.${i & 255}.7`,
    },
    body: JSON.stringify({ ...body, visitor_id: vid(i) }),
  });
  assert.ok(res.status < 300, `${path} answered ${res.status}: ${res.status < 300 ? '' : await res.clone().text()}`);
  return res.status === 202 || res.status === 204 ? null : res.json();
}

/** Decisions (an experiment, a segment above k, one below), conversions and consents. */
async function traffic() {
  for (let i = 1; i <= 240; i++) {
    const d = await send('/v1/decide', i, { page: { url: 'https://bank.example/mortgages/fixed-rate' } });
    const arm = d.decisions.hero?.experiment?.arm;
    if (arm && i % 3 !== 0) {
      await send('/v1/events', i, { type: 'conversion', goal: 'mortgage_application', experiment: EXPERIMENT, page: { url: 'https://bank.example/mortgages/apply' } });
    }
  }
  for (let i = 201; i <= 220; i++) await send('/v1/decide', i, { page: { url: 'https://bank.example/savings/easy-access' } });
  for (let i = 301; i <= 302; i++) await send('/v1/decide', i, { page: { url: 'https://bank.example/students/' } });
  for (let i = 401; i <= 430; i++) {
    await send('/v1/consent', i, { purposes: { personalize: i % 2 === 0, measure: true, advertise: false }, source: 'cmp', policy_version: '2026-11' });
  }
  await send('/v1/opt-out', 431, {});
}

async function api(path, token = ADMIN_TOKEN) {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, path);
  return res;
}

before(async () => {
  config = configDir();
  server = await start();
  await traffic();
  // Wait for the checkpoint that covers the whole log, so every page shows the same one.
  for (let i = 0; i < 100 && (await checkpoint())?.size !== 31; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await checkpoint())?.size, 31, 'thirty consents and one opt-out are checkpointed');
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const tab = () => consoleTab(browser);
const signIn = (page, token) => signInAt(page, server.url, token);
const offLoopback = (page) => offLoopbackOf(page, server.url);
const checkpoint = () => checkpointOf(server.url);

for (const [scope, token] of Object.entries(TOKENS)) {
  test(`${scope}: the pages its scopes allow render with data, the others are absent`, async () => {
    const { context, page } = await tab();
    await signIn(page, token);
    await page.waitForSelector('#page-overview[data-loaded="true"]');
    const links = await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.id.replace('nav-', '')));
    assert.deepEqual(links, SEES[scope]);
    for (const id of SEES[scope]) {
      await show(page, id);
      const text = await page.locator(`#page-${id}`).innerText();
      assert.doesNotMatch(text, /could not be loaded/, `${scope} ${id}`);
      if (id === 'overview') {
        assert.match(await page.locator('#rules-version').innerText(), /^sha256:[0-9a-f]{64}$/);
        const cp = await checkpoint();
        assert.equal(await page.locator('#checkpoint-size').innerText(), String(cp.size));
        assert.equal(await page.locator('#checkpoint-root').innerText(), cp.root);
        if (SEES_OPS[scope]) {
          const status = await (await api('/v1/admin/rules')).json();
          assert.equal(await page.locator('#rules-loaded-at').innerText(), status.loaded_at);
          assert.match(status.loaded_at, /^\d{4}-\d\d-\d\dT/);
        } else {
          assert.equal(await page.locator('#rules-loaded-at').count(), 0, `${scope} may not read /v1/admin/rules`);
        }
      }
      if (id === 'compliance') {
        assert.match(text, /Record of processing/);
        assert.equal(await page.locator('#log-table tbody tr').count(), 20, 'a first page of 20 entries');
      }
      if (id === 'reports') assert.ok(await page.locator(`[data-experiment="${EXPERIMENT}"] svg.forest`).count());
      if (id === 'rules' && SEES[scope].includes('compliance')) {
        assert.match(await page.locator('#rules-segments tr[data-segment="bereavement_support"]').innerText(), /sensitive: life_event/);
      }
      if (id === 'rules' && SEES[scope].includes('reports')) {
        assert.match(await page.locator('#rules-experiments').innerText(), new RegExp(EXPERIMENT));
      }
      if (scope === 'ops') assert.match(await page.locator('#ops').innerText(), /Oldest salt/);
      await axeCheck(page, `${scope} ${id}`);
      // The Rules page is photographed with an explanation and a preview link (console_rules.test.mjs),
      // the Reports page with closed days and a verdict (console_reports.test.mjs).
      if (scope === 'admin' && id !== 'rules' && id !== 'reports') await screenshot(page, id);
    }
    // A page outside the scopes, asked for by its address, is not rendered: the overview is.
    for (const id of PAGES.filter((p) => !SEES[scope].includes(p))) {
      await page.goto(`${server.url}/console/#/${id}`);
      await page.waitForSelector('#page-overview[data-loaded="true"]');
      assert.equal(await page.locator(`#page-${id}`).count(), 0, `${scope} sees ${id}`);
    }
    if (!SEES[scope].includes('compliance')) assert.ok(!page.requests.some((u) => u.includes('/v1/admin/consent/')), scope);
    if (!SEES[scope].includes('reports')) assert.ok(!page.requests.some((u) => u.includes('/v1/admin/reports/segments')), scope);
    assert.ok(!page.requests.some((u) => u.includes(token)), 'the token is never in a URL');
    assert.deepEqual(offLoopback(page), []);
    assert.deepEqual(page.bad, []);
    await context.close();
  });
}

test('a wrong token gets a clear error and nothing else loads', async () => {
  const { context, page } = await tab();
  await signIn(page, 'not-a-configured-token-0123456789abcdefgh');
  await page.waitForSelector('#sign-in-error:not([hidden])');
  assert.match(await page.locator('#sign-in-error').innerText(), /refused: the token is not valid/);
  assert.equal(await page.locator('#nav').isVisible(), false);
  assert.equal(await page.locator('.page').count(), 0);
  const api = page.requests.filter((u) => u.includes('/v1/'));
  assert.deepEqual(api, [`${server.url}/v1/admin/whoami`]);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the refused token is not kept');
  await axeCheck(page, 'sign-in');
  await page.screenshot({ path: join(ARTIFACTS, 'console-wrong-token.png') });
  publishScreenshot(join(ARTIFACTS, 'console-wrong-token.png'), 'console-sign-in');
  assert.deepEqual(offLoopback(page), []);
  await context.close();
});

// The Reports page (verdicts, SRM, progress, forest plots, closed days) is console_reports.test.mjs.

/** Every entry of the log as CSV, page by page, as the server writes it. */
async function logCsv() {
  const lines = [];
  let from = 0;
  for (;;) {
    const page = (await (await api(`/v1/admin/consent/log?from=${from}&limit=1000&format=csv`)).text()).split('\n').filter(Boolean);
    const header = page.shift();
    if (!lines.length) lines.push(header);
    lines.push(...page);
    if (page.length < 1000) return lines;
    from = Number(page[page.length - 1].split(',')[0]) + 1;
  }
}

test('the CSV export downloads the rows of the log; paging walks it', async () => {
  const { context, page } = await tab();
  await signIn(page, TOKENS.compliance);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'compliance');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  assert.equal(download.suggestedFilename(), 'consent-log.csv');
  const file = join(ARTIFACTS, 'console-consent-log.csv');
  await download.saveAs(file);
  const rows = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const expected = await logCsv();
  assert.equal(expected.length, 1 + 31, 'thirty consents and one opt-out');
  assert.deepEqual(rows, expected);
  // The second page of the table holds the entries after the first 20 (indices count from 0).
  await page.click('#log-next');
  await page.waitForFunction(() => document.querySelector('#log-table tbody tr th')?.textContent === '20');
  assert.equal(await page.locator('#log-table tbody tr').count(), 11);
  assert.deepEqual(offLoopback(page), []);
  await context.close();
});

test('the record of processing prints alone: no navigation, buttons or consent log on paper', async () => {
  const { context, page } = await tab();
  await signIn(page, TOKENS.compliance);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'compliance');
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('#record').isVisible(), true);
  assert.equal(await page.locator('#inventory').isVisible(), true);
  for (const hidden of ['.bar', '#print', '#verify', '#export-csv', '#log-table']) {
    assert.equal(await page.locator(hidden).isVisible(), false, `${hidden} is printed`);
  }
  await page.pdf({ path: join(ARTIFACTS, 'console-record-of-processing.pdf'), format: 'A4' });
  await context.close();
});

test('verify reports a problem after an entry is tampered with while the server is stopped', async () => {
  const { context, page } = await tab();
  await signIn(page, TOKENS.compliance);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'compliance');
  await page.click('#verify');
  await page.waitForSelector('#verify-result[data-ok]');
  assert.equal(await page.getAttribute('#verify-result', 'data-ok'), 'true');
  await context.close();

  const data = server.data;
  await server.stop();
  // Someone with file access drops the append-only guard and rewrites one entry.
  execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DROP TRIGGER IF EXISTS consent_leaves_no_update")
db.execute("UPDATE consent_leaves SET advertise = 1 WHERE idx = 2")
db.commit()
`, join(data, 'personify.db')]);
  server = await start(data);
  const again = await tab();
  await signIn(again.page, TOKENS.compliance);
  await again.page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(again.page, 'compliance');
  await again.page.click('#verify');
  await again.page.waitForSelector('#verify-result[data-ok]');
  const verdict = await (await api('/v1/admin/consent/verify', TOKENS.compliance)).json();
  assert.equal(verdict.ok, false);
  assert.equal(await again.page.getAttribute('#verify-result', 'data-ok'), 'false');
  assert.match(await again.page.locator('#verify-result').innerText(), /Problem: the log does not verify/);
  await again.page.screenshot({ path: join(ARTIFACTS, 'console-verify-tampered.png'), fullPage: true });
  await again.context.close();
});
