// The console's Reports page in Chromium against a real server (k = 5) fed real traffic: segment
// cells per closed day and ISO week as the JSON says, and an experiment watched through its life —
// keep running (with progress toward the planned size), a clear winner (the forest plot's interval
// endpoints are the adjusted intervals of the JSON), a sample ratio mismatch (traffic to one arm
// lost, as a broken redirect would: the banner, the results greyed) and a new analysis period after
// the weights change (the period picker reads the old one back).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, REPO, VISITOR_UA, launch, shot, startPersonify } from './harness.mjs';
import { TOKENS, axeCheck, checkpointOf, configDir, consoleTab, offLoopbackOf, screenshot, show, signInAt } from './console_harness.mjs';

const K = 5;
const EXPERIMENT = 'mortgage_hero_2026q4';
const PRIMARY = 'mortgage_application';
const MORTGAGE_PAGE = 'https://bank.example/mortgages/fixed-rate';
/** Days the segment traffic is moved back: always closed, whatever the time of day. */
const AGO = 2;

let browser, server, config, rules;
let next = 1;

/** The shipped rules with a plan on the experiment (baseline 10%, a +50% effect worth detecting). */
function rulesDir() {
  const dir = mkdtempSync(join(tmpdir(), 'personify-reports-rules-'));
  cpSync(join(REPO, 'segment_rules'), dir, { recursive: true });
  const file = join(dir, 'content.toml');
  const text = readFileSync(file, 'utf8');
  const goals = `experiment.goals = ["${PRIMARY}"]\n`;
  assert.ok(text.includes(goals), 'the shipped experiment declares its goal');
  writeFileSync(file, text.replace(goals, `${goals}experiment.primary_goal = "${PRIMARY}"\nexperiment.baseline_rate = 0.1\nexperiment.minimum_detectable_effect = 0.5\n`));
  return dir;
}

function start(data) {
  return startPersonify({
    args: ['--config', config],
    data,
    rulesDir: rules,
    env: {
      PERSONIFY__PRIVACY__K: String(K),
      PERSONIFY__SERVER__CLIENT_IP_HEADER: 'X-Forwarded-For',
      PERSONIFY__LIMITS__ENABLED: 'false',
      PERSONIFY__RULES__WATCH: 'false',
      // The Overview (the page signed in to) shows the newest checkpoint: one exists, no 404.
      PERSONIFY__CONSENT__CHECKPOINT_SECONDS: '1',
    },
  });
}

/** A random-looking, fixed visitor id per number (the server refuses ids that do not look random). */
const vid = (i) => {
  const hex = createHash('sha256').update(`reports-visitor-${i}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/** One visitor's request from its own /24 network (k counts networks too), from the US (opt-out default). */
async function send(path, i, body) {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': VISITOR_UA, 'cf-ipcountry': 'US', 'x-forwarded-for': `10.${(i >> 8) & 255}.${i & 255}.7` },
    body: JSON.stringify({ ...body, visitor_id: vid(i) }),
  });
  assert.ok(res.status < 300, `${path} answered ${res.status}`);
  return res.status === 202 || res.status === 204 ? null : res.json();
}

async function api(path, { token = ADMIN_TOKEN, body } = {}) {
  const res = await fetch(server.url + path, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, path);
  return res.json();
}

/** Runs `f(i)` for `n` new visitors, eight at a time. */
async function visitors(n, f) {
  const ids = Array.from({ length: n }, () => next++);
  for (let at = 0; at < ids.length; at += 8) await Promise.all(ids.slice(at, at + 8).map(f));
}

/** A mortgage visitor sees the experiment and converts at `rates[arm]` (every 1/rate-th visitor of the arm). */
function mortgageVisitor(rates, seen) {
  return async (i) => {
    const d = await send('/v1/decide', i, { page: { url: MORTGAGE_PAGE } });
    const arm = d.decisions.hero?.experiment?.arm;
    assert.ok(arm, 'a mortgage visitor is in the experiment');
    seen[arm] = (seen[arm] || 0) + 1;
    if ((seen[arm] * rates[arm]) % 1 < rates[arm]) {
      await send('/v1/events', i, { type: 'conversion', goal: PRIMARY, experiment: EXPERIMENT, page: { url: 'https://bank.example/mortgages/apply' } });
    }
  };
}

const report = (query = '') => api(`/v1/admin/reports/experiments/${EXPERIMENT}${query}`);

before(async () => {
  config = configDir();
  rules = rulesDir();
  server = await start();
  // Segment traffic: twenty savers and two students (below k), then moved to a closed day, and copied
  // a week earlier, as if it had come then (the server releases only closed days and weeks).
  await visitors(20, (i) => send('/v1/decide', i, { page: { url: 'https://bank.example/savings/easy-access' } }));
  await visitors(2, (i) => send('/v1/decide', i, { page: { url: 'https://bank.example/students/' } }));
  const data = server.data;
  await server.stop();
  execFileSync('python3', ['-c', `
import sqlite3, sys
ago = int(sys.argv[2])
db = sqlite3.connect(sys.argv[1])
kinds = "('segment', 'segment_networks', 'views')"
for table, value in (("sketches", "blob"), ("counters", "value")):
    db.execute(f"UPDATE {table} SET day = day - ? WHERE kind IN {kinds}", (ago,))
    db.execute(f"INSERT INTO {table} (kind, key, day, node, {value}) SELECT kind, key, day - 7, node, {value} FROM {table} WHERE kind IN {kinds}")
db.commit()
`, join(data, 'personify.db'), String(AGO)]);
  server = await start(data);
  await send('/v1/consent', next++, { purposes: { personalize: true, measure: true, advertise: false }, source: 'cmp', policy_version: '2026-11' });
  for (let i = 0; i < 100 && !(await checkpointOf(server.url)); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(await checkpointOf(server.url), 'a signed checkpoint');
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function reportsPage(token = TOKENS.analyst) {
  const { context, page } = await consoleTab(browser);
  page.experimentReports = [];
  page.on('response', async (r) => {
    if (r.url().includes(`/v1/admin/reports/experiments/${EXPERIMENT}`) && r.ok()) page.experimentReports.push(await r.json());
  });
  await signInAt(page, server.url, token);
  await page.waitForSelector('#page-overview[data-loaded="true"]');
  await show(page, 'reports');
  return { context, page };
}

const section = (page) => page.locator(`section[data-experiment="${EXPERIMENT}"]`);

/** The verdict, SRM state and progress the page shows are those of `rep`. */
async function assertHeadline(page, rep) {
  const a = rep.analysis;
  const id = `#exp-${EXPERIMENT}`;
  assert.equal(await page.getAttribute(`${id}-verdict`, 'data-kind'), a.verdict.kind);
  assert.equal(await page.getAttribute(`${id}-srm`, 'data-flagged'), String(a.srm.flagged));
  const progress = page.locator(`${id}-progress`);
  assert.equal(Number(await progress.getAttribute('data-progress')), a.progress);
  assert.equal(Number(await progress.getAttribute('data-planned')), a.planned_per_arm);
  assert.equal(Number(await progress.locator('progress').getAttribute('value')), a.progress);
  const words = await progress.innerText();
  assert.match(words, new RegExp(`${Math.floor(a.progress * 100)}% of the planned ${a.planned_per_arm.toLocaleString('en')} visitors per arm`));
  // Days left move with the clock: they are read from the answer the page itself got.
  const same = (r) => r && r.period?.period === rep.period.period && r.analysis.method === a.method;
  for (let i = 0; i < 100 && !same(page.experimentReports.at(-1)); i++) await new Promise((r) => setTimeout(r, 50));
  const seen = page.experimentReports.at(-1);
  assert.ok(same(seen), 'the page\'s own answer was recorded');
  assert.equal(seen.analysis.progress, a.progress);
  if (a.progress < 1 && seen.analysis.days_left !== null) {
    assert.equal(Number(await progress.getAttribute('data-days-left')), seen.analysis.days_left);
    assert.match(words, new RegExp(`about ${Math.ceil(seen.analysis.days_left).toLocaleString('en')} days? left`));
  }
  const method = await page.locator(`${id}-method-facts`).innerText();
  assert.match(method, a.method === 'sequential' ? /Sequential test/ : /Fixed-horizon test/);
  assert.match(method, a.adjustment === 'holm' ? /Holm/ : /Benjamini–Hochberg/);
  assert.match(method, new RegExp(`${rep.period.period} of ${rep.periods.length}, started ${rep.period.started}`));
}

/** Every forest plot (one per goal) draws the adjusted intervals of `rep` at the right x. */
async function assertPlots(page, rep) {
  const others = rep.analysis.arms.slice(1);
  let drawn = 0;
  for (const [g, goal] of rep.goals.entries()) {
    const plot = page.locator(`#exp-${EXPERIMENT}-plot-${g}`);
    assert.equal(await plot.getAttribute('data-goal'), goal);
    if (others.every((arm) => arm.goals[g].adjusted_interval === null)) {
      assert.equal(await plot.getAttribute('data-empty'), 'true', `${goal}: nothing to draw`);
      assert.doesNotMatch(await plot.innerText(), /\d/);
      continue;
    }
    const [lo, hi, left, right] = await Promise.all(['data-domain-min', 'data-domain-max', 'data-plot-left', 'data-plot-right'].map((a) => plot.getAttribute(a).then(Number)));
    const x = (v) => left + ((v - lo) / (hi - lo)) * (right - left);
    for (const arm of others) {
      const r = arm.goals[g];
      const mark = plot.locator(`g.arm[data-arm="${arm.label}"]`);
      if (r.adjusted_interval === null) {
        assert.equal(await mark.getAttribute('data-suppressed'), 'true', `${goal} ${arm.label}`);
        assert.equal(await mark.locator('line').count(), 0, 'no interval drawn for a suppressed comparison');
        continue;
      }
      drawn++;
      const [low, high] = r.adjusted_interval;
      assert.equal(Number(await mark.getAttribute('data-low')), low);
      assert.equal(Number(await mark.getAttribute('data-high')), high);
      const line = mark.locator('line.interval');
      assert.ok(Math.abs(Number(await line.getAttribute('x1')) - x(low)) < 1e-6, `${goal} ${arm.label} low end`);
      assert.ok(Math.abs(Number(await line.getAttribute('x2')) - x(high)) < 1e-6, `${goal} ${arm.label} high end`);
      const est = mark.locator('rect.estimate');
      assert.equal(Number(await est.getAttribute('data-diff')), r.diff);
      assert.ok(Math.abs(Number(await est.getAttribute('x')) + 5 - x(r.diff)) < 1e-6, `${goal} ${arm.label} estimate`);
      assert.ok(lo <= low && high <= hi, 'the axis holds the whole interval');
      const row = await page.locator(`#exp-${EXPERIMENT}-table-${g} tr[data-arm="${arm.label}"]`).innerText();
      const pp = (v) => `${v > 0 ? '\\+' : v < 0 ? '−' : ''}${Math.abs(v * 100).toFixed(2)}`;
      assert.match(row, new RegExp(`${pp(low)} to ${pp(high)} pp`), `${goal} ${arm.label} row`);
      assert.match(row, new RegExp(`${(r.rate * 100).toFixed(2)}%`));
    }
  }
  return drawn;
}

test('segment reach: each closed day and ISO week as the JSON says; below k reads "fewer than k"', async () => {
  const { context, page } = await reportsPage();
  const closed = await api('/v1/admin/reports/segments');
  const day = new Date(Date.now() - AGO * 86400000).toISOString().slice(0, 10);
  assert.ok(closed.closed_through >= day, 'the moved day is closed');
  // Two weeks back from the last closed day: at least one whole ISO week, each holding one of the two days.
  const from = new Date(Date.parse(`${closed.closed_through}T00:00:00Z`) - 13 * 86400000).toISOString().slice(0, 10);
  await page.fill('#from', from);
  await page.fill('#to', closed.closed_through);
  await page.click('#range button[type=submit]');
  await page.waitForSelector('#segment-reports[data-loaded="true"]');
  await page.waitForFunction(() => document.querySelectorAll('#segments-days thead th').length > 10);
  const rep = await api(`/v1/admin/reports/segments?from=${from}&to=${closed.closed_through}`);
  const savers = rep.segments.find((s) => s.id === 'savers');
  const students = rep.segments.find((s) => s.id === 'students');
  assert.ok(savers.views > 0 && savers.suppressed_days === 12, 'two released days of savers');
  assert.ok(savers.weeks.length >= 1 && savers.weeks.every((w) => w.uniques >= K), 'every whole week holds a savers day');
  assert.equal(students.views, null, 'two students are below k every day');
  assert.equal(students.suppressed_days, 14);
  assert.ok(students.weeks.every((w) => w.suppressed));
  for (const s of rep.segments) {
    const row = page.locator(`#segments-table tr[data-segment="${s.id}"]`);
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[0], s.views === null ? 'fewer than k' : s.views.toLocaleString('en'), `${s.id} views`);
    assert.equal(cells[1], String(s.suppressed_days));
    for (const [j, w] of s.weeks.entries()) {
      assert.equal(await row.locator('td').nth(2 + j).getAttribute('data-week'), w.week);
      assert.equal(cells[2 + j], w.uniques === null ? 'fewer than k' : w.uniques.toLocaleString('en'), `${s.id} ${w.week}`);
    }
    const days = page.locator(`#segments-days tr[data-segment="${s.id}"]`);
    for (const d of s.days) {
      const cell = days.locator(`td[data-date="${d.date}"]`);
      if (d.suppressed) {
        assert.equal(await cell.innerText(), 'fewer than k', `${s.id} ${d.date}`);
      } else {
        assert.equal(await cell.locator('[data-metric="uniques"]').innerText(), d.uniques.toLocaleString('en'));
        assert.equal(await cell.locator('[data-metric="views"]').innerText(), d.views.toLocaleString('en'));
      }
    }
  }
  const studentCells = await page.locator('#segments-table tr[data-segment="students"] td, #segments-days tr[data-segment="students"] td').allInnerTexts();
  assert.ok(studentCells.every((t) => t === 'fewer than k' || t === '14'), `students show no number: ${studentCells}`);
  await axeCheck(page, 'reports, segments');
  assert.deepEqual(offLoopbackOf(page, server.url), []);
  assert.deepEqual(page.bad, []);
  await context.close();
});

test('an experiment: keep running, then a clear winner; the plot draws the JSON\'s adjusted intervals', async () => {
  const seen = {};
  // A first day's trickle: nothing can be told yet.
  await visitors(100, mortgageVisitor({ holdout: 0.1, mortgage_rates: 0.1, mortgage_calculator: 0.1 }, seen));
  let rep = await report();
  assert.equal(rep.analysis.verdict.kind, 'keep_running', JSON.stringify(rep.analysis.verdict));
  let { context, page } = await reportsPage();
  await assertHeadline(page, rep);
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-verdict .verdict-title`).innerText(),
    `Keep running: ${rep.analysis.verdict.more_per_arm.toLocaleString('en')} more visitors per arm`);
  assert.ok(rep.analysis.progress > 0 && rep.analysis.progress < 1);
  await assertPlots(page, rep);
  // A comparison with a converter count below k: nothing derived from it, anywhere.
  const suppressed = section(page).locator('table.arms tr[data-suppressed="true"]');
  assert.ok((await suppressed.count()) >= 1, 'some converter count is below k after a hundred visitors');
  for (const cells of await suppressed.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(1).map((td) => td.textContent)))) {
    for (const c of cells) assert.doesNotMatch(c, /\d/, `a suppressed comparison shows "${c}"`);
  }
  await context.close();

  // The calculator converts six times as often.
  await visitors(600, mortgageVisitor({ holdout: 0.1, mortgage_rates: 0.1, mortgage_calculator: 0.6 }, seen));
  rep = await report();
  const v = rep.analysis.verdict;
  assert.equal(v.kind, 'better', JSON.stringify(v));
  assert.equal(v.arm, 'mortgage_calculator');
  ({ context, page } = await reportsPage());
  await assertHeadline(page, rep);
  const pp = (x) => `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(2)}`;
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-verdict .verdict-title`).innerText(),
    `mortgage_calculator is better by ${(v.lift * 100).toFixed(1)}% (${pp(v.interval[0])} to ${pp(v.interval[1])} pp)`);
  const primary = rep.goals.indexOf(PRIMARY);
  const calc = rep.analysis.arms.find((a) => a.label === 'mortgage_calculator').goals[primary];
  assert.deepEqual(calc.adjusted_interval, v.interval, 'the verdict reads the adjusted interval');
  assert.ok((await assertPlots(page, rep)) >= 2, 'both arms are drawn on the primary goal');
  // The primary goal's plot comes first, under its heading.
  assert.equal(await section(page).locator('svg.forest').first().getAttribute('data-goal'), PRIMARY);
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-srm`).getAttribute('data-flagged'), 'false');
  await axeCheck(page, 'reports, a winner');
  await screenshot(page, 'reports');
  // The fixed-horizon test, asked for by the picker, is the JSON's ?method=fixed_horizon.
  await page.selectOption(`#exp-${EXPERIMENT}-method`, 'fixed_horizon');
  await page.waitForSelector(`#exp-${EXPERIMENT}[data-loaded="true"]`);
  const fixed = await report(`?period=${rep.period.period}&method=fixed_horizon`);
  assert.equal(fixed.analysis.method, 'fixed_horizon');
  await assertHeadline(page, fixed);
  await assertPlots(page, fixed);
  await axeCheck(page, 'reports, a fixed-horizon look');
  assert.deepEqual(offLoopbackOf(page, server.url), []);
  assert.deepEqual(page.bad, []);
  await context.close();
});

test('a sample ratio mismatch shows the banner and greys the numbers; a new period reads the old one back', async () => {
  // A broken redirect loses every visitor the calculator arm would get: they never reach /v1/decide.
  // Which arm a visitor gets is read from /v1/admin/explain (never counted).
  let rep;
  let lost = 0;
  for (let round = 0; round < 12; round++) {
    await visitors(200, async (i) => {
      const ex = await api('/v1/admin/explain', { token: TOKENS.analyst, body: { url: MORTGAGE_PAGE, country: 'US', user_agent: VISITOR_UA, visitor_id: vid(i) } });
      const variant = ex.decisions.hero?.variant;
      assert.ok(variant, 'explain names the hero variant');
      if (variant === 'mortgage_calculator') {
        lost++;
        return;
      }
      const d = await send('/v1/decide', i, { page: { url: MORTGAGE_PAGE } });
      assert.equal(d.decisions.hero.variant, variant, 'explain and decide agree');
      assert.notEqual(d.decisions.hero.experiment.arm, 'mortgage_calculator');
    });
    rep = await report();
    if (rep.analysis.srm.flagged) break;
  }
  assert.ok(lost > 0);
  assert.equal(rep.analysis.srm.flagged, true, JSON.stringify(rep.analysis.srm));
  assert.equal(rep.analysis.verdict.kind, 'sample_ratio_mismatch');
  let { context, page } = await reportsPage();
  await assertHeadline(page, rep);
  const banner = page.locator(`#exp-${EXPERIMENT}-srm`);
  assert.equal(await banner.getAttribute('role'), 'alert');
  assert.match(await banner.innerText(), /^Sample ratio mismatch — fix before reading/);
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-verdict .verdict-title`).innerText(), 'Sample ratio mismatch — fix before reading');
  const results = page.locator(`#exp-${EXPERIMENT}-results`);
  assert.equal(await results.getAttribute('data-srm'), 'true');
  assert.equal(await results.evaluate((el) => el.tagName), 'DETAILS');
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-plot-0`).isVisible(), false, 'the numbers are folded away');
  await axeCheck(page, 'reports, SRM');
  await results.locator('summary').click();
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-plot-0`).isVisible(), true, 'and can be opened, greyed');
  assert.equal(await results.evaluate((el) => getComputedStyle(el.querySelector('svg')).filter), 'grayscale(1)');
  await assertPlots(page, rep);
  await shot(page, 'console-reports-srm');
  await context.close();

  // The fix changes the weights: a new period starts, with its own split and no flag.
  const file = join(rules, 'content.toml');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('{ variant = "mortgage_rates", weight = 50 }', '{ variant = "mortgage_rates", weight = 40 }')
    .replace('{ variant = "mortgage_calculator", weight = 50 }', '{ variant = "mortgage_calculator", weight = 60 }'));
  await api('/v1/admin/rules/reload', { body: {} });
  await visitors(40, mortgageVisitor({ holdout: 0.1, mortgage_rates: 0.1, mortgage_calculator: 0.1 }, {}));
  const now = await report();
  assert.equal(now.periods.length, 2, 'the weights change started a new period');
  assert.equal(now.period.period, 2);
  assert.equal(now.analysis.srm.flagged, false);
  ({ context, page } = await reportsPage());
  await assertHeadline(page, now);
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-results`).evaluate((el) => el.tagName), 'DIV');
  const options = await page.locator(`#exp-${EXPERIMENT}-period option`).evaluateAll((os) => os.map((o) => [o.value, o.selected]));
  assert.deepEqual(options, [['2', true], ['1', false]]);
  await page.selectOption(`#exp-${EXPERIMENT}-period`, '1');
  await page.waitForSelector(`#exp-${EXPERIMENT}[data-loaded="true"]`);
  const old = await report('?period=1&method=sequential');
  assert.equal(old.analysis.srm.flagged, true, 'the first period keeps its flag');
  await assertHeadline(page, old);
  assert.equal(await page.locator(`#exp-${EXPERIMENT}-srm`).getAttribute('data-flagged'), 'true');
  assert.deepEqual(offLoopbackOf(page, server.url), []);
  assert.deepEqual(page.bad, []);
  await context.close();
});
