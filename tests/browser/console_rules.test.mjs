// The console's Rules page in Chromium against a real server: the explain form shows the segments a
// shipped rule matches and the decision per slot, as text; the preview-link maker yields a link whose
// token the API accepts. axe finds no serious or critical violation and no request leaves 127.0.0.1.
// The README's Rules screenshot is taken here (artefacts; docs/ with UPDATE_SCREENSHOTS=1).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, VISITOR_UA, launch, startPersonify } from './harness.mjs';
import { TOKENS, axeCheck, checkpointOf, configDir, consoleTab, offLoopbackOf, screenshot, show, signInAt } from './console_harness.mjs';

let browser, server;

before(async () => {
  server = await startPersonify({ args: ['--config', configDir()], env: { PERSONIFY__CONSENT__CHECKPOINT_SECONDS: '1' } });
  // One consent and its checkpoint: the Overview every sign-in lands on has one to show.
  const res = await fetch(server.url + '/v1/consent', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': VISITOR_UA },
    body: JSON.stringify({ visitor_id: '9b2f4c1e-5d7a-4e3b-a1c9-7f0e2d4b6a8c', purposes: { personalize: true, measure: true, advertise: false }, source: 'cmp', policy_version: '2026-11' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  for (let i = 0; i < 100 && !(await checkpointOf(server.url)); i++) await new Promise((r) => setTimeout(r, 100));
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const tab = () => consoleTab(browser);
const signIn = (page, token) => signInAt(page, server.url, token);
const offLoopback = (page) => offLoopbackOf(page, server.url);

async function api(path, token = ADMIN_TOKEN) {
  const res = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, path);
  return res;
}

/** POSTs `body` to an admin route with `token`; the JSON answer. */
async function apiPost(path, body, token = ADMIN_TOKEN) {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `${path}: ${res.status}`);
  return res.json();
}

/** Explains `url` with the form; waits for the answer and returns the request body the form sent. */
async function explainInForm(page, url, extra = {}) {
  await page.fill('#ex-url', url);
  for (const [id, v] of Object.entries(extra)) {
    if (id === 'ex-device') await page.selectOption(`#${id}`, v);
    else await page.fill(`#${id}`, v);
  }
  await page.evaluate(() => document.querySelector('#explain-result').removeAttribute('data-state'));
  const sent = page.waitForRequest((r) => r.url().endsWith('/v1/admin/explain'));
  await page.click('#explain-form button[type=submit]');
  await page.waitForSelector('#explain-result[data-state="done"], #explain-result[data-state="error"]', { state: 'attached' });
  return JSON.parse((await sent).postData());
}

test('Rules: the explain form shows the segments a shipped rule matches and the decision per slot, as text', async () => {
  const { context, page } = await tab();
  await signIn(page, TOKENS.analyst);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'rules');
  const hostile = '<img src=x onerror=alert(1)>';
  const sent = await explainInForm(page, 'https://bank.example/mortgages/fixed-rate', { 'ex-device': 'mobile', 'ex-country': 'gb', 'ex-utm-campaign': hostile });
  assert.equal(new URL(sent.url).searchParams.get('utm_campaign'), hostile, 'the campaign goes into the page URL');
  assert.equal(sent.country, 'GB');
  assert.match(sent.user_agent, /iPhone/);
  const shown = await page.locator('#explain-segments tbody tr th').allInnerTexts();
  const expected = await apiPost('/v1/admin/explain', sent, TOKENS.analyst);
  assert.ok(shown.includes('mortgage_intent'), `the shipped mortgage rule matches: ${shown}`);
  assert.deepEqual(shown, expected.segments.map((s) => s.id));
  assert.equal(await page.locator('#explain-decisions tr[data-slot="sidebar"]').getAttribute('data-variant'), 'mortgage_advisor_callback');
  assert.match(await page.locator('#explain-decisions tr[data-slot="hero"]').innerText(), /experiment mortgage_hero_2026q4/);
  assert.match(await page.locator('#explain-signals').textContent(), /device\.class\s*mobile/);
  // The campaign came back as a signal: shown as text, never parsed as markup.
  assert.ok((await page.locator('#explain-signals').textContent()).includes(hostile));
  assert.equal(await page.locator('#page-rules img').count(), 0);
  await axeCheck(page, 'rules with an explanation');
  // Without compliance, the preview maker offers what analyst routes list: every segment of the reach
  // report, and the experiment's arms for its slot.
  const reach = await (await api('/v1/admin/reports/segments', TOKENS.analyst)).json();
  assert.deepEqual(await page.locator('#preview-form input[name=segment]').evaluateAll((is) => is.map((i) => i.value)), reach.segments.map((x) => x.id));
  assert.ok(reach.segments.length >= 9, 'every shipped segment, seen or not');
  assert.deepEqual(await page.locator('#pv-slot-hero option').allInnerTexts(), ['as the segments decide', 'mortgage_rates', 'mortgage_calculator']);

  // A page view the server refuses: its message, which never repeats the value sent.
  await explainInForm(page, 'ftp://secret-host.example/x');
  const error = await page.locator('#explain-error').innerText();
  assert.match(error, /^Not explained: /);
  assert.ok(!error.includes('secret-host'), error);
  assert.equal(await page.locator('#explain-segments').count(), 0, 'the earlier answer is gone');
  assert.ok(page.requests.some((u) => u === `${server.url}/v1/admin/explain`));
  assert.deepEqual(offLoopback(page), []);
  // Chromium logs the refused request itself; nothing else went wrong.
  assert.deepEqual(page.bad, ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  await context.close();
});

test('Rules: the preview maker yields a link whose token the API accepts', async () => {
  const { context, page } = await tab();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await signIn(page, ADMIN_TOKEN);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'rules');
  await page.check('#pv-seg-savers');
  await page.selectOption('#pv-slot-hero', 'mortgage_calculator');
  await page.fill('#pv-site', 'https://bank.example/savings?ref=uat');
  // More than a day is refused before anything is sent.
  await page.fill('#pv-minutes', '1441');
  await page.click('#preview-form button[type=submit]');
  await page.waitForSelector('#preview-error:not([hidden])');
  assert.match(await page.locator('#preview-error').innerText(), /1 to 1440 minutes/);
  assert.ok(!page.requests.some((u) => u.endsWith('/v1/admin/preview')));

  await page.fill('#pv-minutes', '30');
  await page.click('#preview-form button[type=submit]');
  await page.waitForSelector('#preview-result[data-state="done"]', { state: 'attached' });
  const link = new URL(await page.inputValue('#preview-link'));
  const token = await page.locator('#preview-token').innerText();
  assert.equal(link.origin + link.pathname, 'https://bank.example/savings');
  assert.equal(link.searchParams.get('ref'), 'uat');
  assert.equal(link.searchParams.get('personify_preview'), token);
  await page.click('#preview-copy');
  await page.waitForFunction(() => document.querySelector('#preview-copied').textContent !== '');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link.href);

  // The token works on a page view, as the SDK sends it, and forces what was chosen.
  const res = await fetch(server.url + '/v1/decide', {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': VISITOR_UA, 'cf-ipcountry': 'DE' },
    body: JSON.stringify({ page: { url: 'https://bank.example/' }, preview: token }),
  });
  const d = await res.json();
  assert.equal(d.preview, true, JSON.stringify(d));
  assert.equal(d.decisions.hero.variant, 'mortgage_calculator');
  assert.equal(d.decisions.sidebar.variant, 'savings_calculator');
  const trail = await (await api('/v1/admin/audit', TOKENS.compliance)).json();
  assert.equal(trail.entries.filter((e) => e.action === 'preview_minted').length, 1, 'one mint: the refused form sent nothing');
  await axeCheck(page, 'rules with a preview link');

  // The README's picture of the Rules page: every section, an explanation and a link.
  await explainInForm(page, 'https://bank.example/mortgages/fixed-rate', { 'ex-device': 'desktop', 'ex-country': 'GB' });
  await screenshot(page, 'rules');
  assert.deepEqual(offLoopback(page), []);
  assert.deepEqual(page.bad, []);
  await context.close();
});
