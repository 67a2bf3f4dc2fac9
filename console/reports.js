// Reports: segment reach per closed day and ISO week of a range, and per experiment its analysis
// period so far: the verdict, the sample-ratio check, progress toward the planned size and, per
// goal, a forest plot of the adjusted intervals the verdict reads. Every number is the server's
// released cell; a cell below k shows "fewer than k" and nothing derived from it.
import { get } from './api.js';
import { forestPlot } from './forest.js';
import { facts, h, pct, table } from './dom.js';
import { adjustmentName, methodName, pp, ppInterval, progressWords, verdictWords } from './stats.js';

const FEWER = 'fewer than k';
const fmt = new Intl.NumberFormat('en');

function suppressedCell() {
  return h('span', { class: 'suppressed' }, FEWER);
}

/** A released count, "fewer than k" when suppressed. */
function count(v) {
  return v === null || v === undefined ? suppressedCell() : fmt.format(v);
}

/** Marks `el` busy while `work` runs, then loaded (the browser tests wait for `data-loaded`). */
async function loading(el, work) {
  el.setAttribute('aria-busy', 'true');
  delete el.dataset.loaded;
  try {
    await work();
  } finally {
    el.setAttribute('aria-busy', 'false');
    el.dataset.loaded = 'true';
  }
}

function failed(what, e) {
  return h('p', { class: 'error', role: 'alert' }, `${what} could not be loaded: ${e.message}`);
}

// ---- Segments ---------------------------------------------------------------------------------

function segmentsSummary(rep) {
  const weeks = rep.segments[0]?.weeks || [];
  const headers = ['Segment', 'Page views (released days)', 'Days below k',
    ...weeks.map((w) => `Unique visitors, ${w.week} (${w.from} to ${w.to})`)];
  const rows = rep.segments.map((s) => [
    s.id,
    s.days.length === 0 ? '—' : count(s.views),
    String(s.suppressed_days),
    ...s.weeks.map((w) => count(w.uniques)),
  ]);
  const t = table(`Segments, ${rep.from} to ${rep.to}`, headers, rows, { id: 'segments-table' });
  rep.segments.forEach((s, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.segment = s.id;
    if (s.days.length && s.views === null) tr.dataset.suppressed = 'true';
    s.weeks.forEach((w, j) => {
      tr.cells[3 + j].dataset.week = w.week;
      if (w.suppressed) tr.cells[3 + j].dataset.suppressed = 'true';
    });
  });
  return t;
}

function dayCell(d) {
  if (d.suppressed) return suppressedCell();
  return h('span', {},
    h('span', { 'data-metric': 'uniques' }, count(d.uniques)), ' visitors', h('br'),
    h('span', { 'data-metric': 'views' }, count(d.views)), ' views');
}

function segmentsDaily(rep) {
  const days = rep.segments[0]?.days || [];
  const t = table('Unique visitors and page views per closed UTC day', ['Segment', ...days.map((d) => d.date)],
    rep.segments.map((s) => [s.id, ...s.days.map(dayCell)]), { id: 'segments-days' });
  rep.segments.forEach((s, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.segment = s.id;
    s.days.forEach((d, j) => {
      tr.cells[1 + j].dataset.date = d.date;
      if (d.suppressed) tr.cells[1 + j].dataset.suppressed = 'true';
    });
  });
  return h('div', { class: 'scroll' }, t);
}

async function segmentsPart(part) {
  const from = h('input', { type: 'date', id: 'from', required: true });
  const to = h('input', { type: 'date', id: 'to', required: true });
  const form = h('form', { id: 'range', class: 'range' },
    h('label', { for: 'from' }, 'From'), from, h('label', { for: 'to' }, 'To'), to,
    h('button', { type: 'submit' }, 'Show'));
  const body = h('div', { id: 'segments-body' });
  part.append(h('h2', {}, 'Segment reach'), form, body);
  const load = (query) => loading(part, async () => {
    try {
      const rep = await get(`/v1/admin/reports/segments${query}`);
      from.value = rep.from;
      to.value = rep.to;
      to.max = rep.closed_through;
      const noDays = rep.segments.every((s) => s.days.length === 0);
      body.replaceChildren(...[
        h('p', { class: 'note', id: 'closed-through' },
          `Closed days through ${rep.closed_through} (UTC): a day is reported once every node has counted it, and never changes after. `
          + `A day or week with fewer than k = ${rep.k} distinct visitors (and networks) shows "${FEWER}", never a number; `
          + `a range's page views are the sum of its released days${rep.epsilon ? `, each noised once (ε = ${rep.epsilon})` : ''}.`),
        noDays ? h('p', {}, 'No closed day in this range yet.') : null,
        segmentsSummary(rep),
        noDays ? null : segmentsDaily(rep),
      ].filter(Boolean));
    } catch (e) {
      body.replaceChildren(failed('The segment report', e));
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load(`?from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}`);
  });
  await load('');
}

// ---- Experiments ------------------------------------------------------------------------------

function planFacts(meta, rep) {
  const plan = meta.plan || {};
  return [
    ['Primary goal (the verdict reads it)', rep.analysis.primary_goal || '—'],
    ['Baseline rate', plan.baseline_rate === null || plan.baseline_rate === undefined ? 'the control\'s observed rate' : pct(plan.baseline_rate)],
    ['Smallest effect worth detecting', plan.minimum_detectable_effect === null || plan.minimum_detectable_effect === undefined
      ? '10% relative (default)' : `${(plan.minimum_detectable_effect * 100).toFixed(1)}% relative`],
  ];
}

function periodPicker(id, rep, chosen, method, onChange) {
  const period = h('select', { id: `${id}-period`, name: 'period' },
    [...rep.periods].reverse().map((p, i) => h('option', { value: p.period, selected: String(p.period) === String(chosen) },
      `Period ${p.period}, from ${p.started}${i === 0 ? ' (latest)' : ''}`)));
  const test = h('select', { id: `${id}-method`, name: 'method' },
    ['sequential', 'fixed_horizon'].map((m) => h('option', { value: m, selected: m === method }, m === 'sequential' ? 'Sequential' : 'Fixed horizon')));
  const form = h('form', { class: 'range', id: `${id}-controls` },
    h('label', { for: `${id}-period` }, 'Analysis period'), period,
    h('label', { for: `${id}-method` }, 'Test'), test);
  const change = () => onChange(period.value, test.value);
  period.addEventListener('change', change);
  test.addEventListener('change', change);
  form.addEventListener('submit', (ev) => ev.preventDefault());
  return form;
}

function srmState(id, srm) {
  const evidence = `Bayes factor ${srm.bayes_factor.toPrecision(3)}, anytime-valid p = ${srm.p_value.toPrecision(2)}`;
  if (srm.flagged) {
    return h('div', { class: 'srm-banner', id: `${id}-srm`, role: 'alert', 'data-flagged': 'true' },
      h('strong', {}, 'Sample ratio mismatch — fix before reading'),
      h('p', {}, `The exposures of this period do not follow the configured split (${evidence}). Something drops or adds visitors in some arm — a redirect, a filter, a caching layer. The numbers below are greyed: they cannot be trusted, and the flag stays for the period. Fix the cause; the change starts a new period.`));
  }
  return h('p', { class: 'srm-ok', id: `${id}-srm`, 'data-flagged': 'false' },
    `Sample ratio: the exposures follow the configured split (${evidence}).`);
}

function verdictBox(id, analysis) {
  const v = verdictWords(analysis);
  return h('div', { class: `verdict verdict-${v.kind}`, id: `${id}-verdict`, 'data-kind': v.kind },
    h('strong', { class: 'verdict-title' }, v.title), h('p', {}, v.text));
}

function progressBox(id, analysis) {
  const words = progressWords(analysis);
  if (words === null) {
    return h('p', { class: 'note', id: `${id}-progress` }, 'No planned size yet: it needs a baseline rate (the plan\'s, or released conversions in the control).');
  }
  return h('div', {
    class: 'progress', id: `${id}-progress`, 'data-progress': analysis.progress, 'data-planned': analysis.planned_per_arm,
    'data-days-left': analysis.days_left ?? '',
  },
  h('progress', { max: 1, value: analysis.progress, 'aria-labelledby': `${id}-progress-text` }),
  h('span', { id: `${id}-progress-text` }, `Progress toward the planned size: ${words}`));
}

/** One goal's rows, `a.goals[g]` for every arm (control first). */
function goalTable(id, rep, g) {
  const goal = rep.goals[g];
  const headers = ['Arm', 'Exposures', 'Converters', 'Rate', 'Difference', 'Relative lift', 'Adjusted interval (plotted)', 'Adjusted p-value', 'Unadjusted interval', 'Unadjusted p-value'];
  const dash = (v, f) => (v === null || v === undefined ? '—' : f(v));
  const rows = rep.analysis.arms.map((a, i) => {
    const r = a.goals[g];
    if (a.exposures === null) return [a.label, suppressedCell(), suppressedCell(), '—', '—', '—', '—', '—', '—', '—'];
    return [
      a.label,
      fmt.format(a.exposures),
      count(r.conversions),
      dash(r.rate, (x) => pct(x)),
      i === 0 ? 'control' : dash(r.diff, (x) => `${pp(x)} pp`),
      dash(r.lift, (x) => pct(x, 1)),
      dash(r.adjusted_interval, ppInterval),
      dash(r.adjusted_p_value, (x) => x.toPrecision(2)),
      dash(r.interval, ppInterval),
      dash(r.p_value, (x) => x.toPrecision(2)),
    ];
  });
  const t = table(`${goal}: every arm against ${rep.control}`, headers, rows, { class: 'arms', id: `${id}-table-${g}`, 'data-goal': goal });
  rep.analysis.arms.forEach((a, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.arm = a.label;
    if (a.exposures === null || a.goals[g].conversions === null) tr.dataset.suppressed = 'true';
  });
  return h('div', { class: 'scroll' }, t);
}

function results(id, rep) {
  const a = rep.analysis;
  const order = rep.goals.map((goal, g) => g);
  const primary = rep.goals.indexOf(a.primary_goal);
  if (primary > 0) order.unshift(...order.splice(primary, 1));
  const others = a.arms.slice(1);
  return order.flatMap((g) => {
    const rows = others.map((arm) => ({ arm: arm.label, diff: arm.goals[g].diff, interval: arm.goals[g].adjusted_interval }));
    // A goal with no comparison released yet gets a sentence, not an empty axis.
    const plot = rows.some((r) => Array.isArray(r.interval))
      ? forestPlot(`${id}-plot-${g}`, rows, rep.control, rep.goals[g])
      : h('p', { class: 'note', id: `${id}-plot-${g}`, 'data-goal': rep.goals[g], 'data-empty': 'true' },
        `No comparison on ${rep.goals[g]} yet: its converter counts are below k.`);
    return [h('h4', {}, rep.goals[g], g === primary ? ' (primary goal)' : ''), others.length ? plot : null, goalTable(id, rep, g)];
  }).filter(Boolean);
}

function experimentBody(id, meta, rep, reload) {
  const a = rep.analysis;
  const about = facts([
    ['Slot', meta.slot],
    ['Runs for segment', meta.segment || '—'],
    ['Holdout', `${meta.holdout_percent}% (sees the slot's default)`],
    ['Compared against', rep.control || '—'],
    ['Units', `${rep.units === 'first_party_visitors' ? 'first-party visitors (one per visitor id)' : rep.units}; cookieless visitors ${rep.cookieless}`],
    ...planFacts(meta, rep),
  ]);
  if (!rep.period) {
    return [about, h('p', { id: `${id}-no-period` }, 'No exposure yet: the experiment has no analysis period to report.')];
  }
  const period = rep.period;
  const released = rep.released_at ? new Date(rep.released_at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : 'nothing released yet';
  const how = facts([
    ['Period', `${period.period} of ${rep.periods.length}, started ${period.started}`],
    ['Numbers released', released],
    ['Test', methodName(a.method)],
    ['Adjustment', adjustmentName(a.adjustment)],
    ['Error rate α', String(a.alpha)],
  ], { id: `${id}-method-facts` });
  const shown = results(id, rep);
  const numbers = a.srm.flagged
    ? h('details', { class: 'results unreliable', id: `${id}-results`, 'data-srm': 'true' },
      h('summary', {}, 'The numbers of this period (unreliable until the split is fixed)'), ...shown)
    : h('div', { class: 'results', id: `${id}-results` }, ...shown);
  return [
    about,
    periodPicker(id, rep, period.period, a.method, reload),
    h('p', { class: 'note' }, 'A new analysis period starts whenever the experiment\'s bucketing, an arm\'s content or its segment\'s condition changes; each period is analysed alone, from its own start.'),
    how,
    srmState(id, a.srm),
    verdictBox(id, a),
    progressBox(id, a),
    numbers,
  ];
}

async function experimentSection(meta) {
  const id = `exp-${meta.id}`;
  const body = h('div', { id: `${id}-body` });
  const section = h('section', { class: 'experiment', id, 'data-experiment': meta.id, 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, meta.id), body);
  const load = (query) => loading(section, async () => {
    try {
      const rep = await get(`/v1/admin/reports/experiments/${encodeURIComponent(meta.id)}${query}`);
      body.replaceChildren(...experimentBody(id, meta, rep, (period, method) => load(`?period=${encodeURIComponent(period)}&method=${encodeURIComponent(method)}`)));
    } catch (e) {
      body.replaceChildren(failed('This experiment\'s report', e));
    }
  });
  await load('');
  return section;
}

async function experimentsPart(part) {
  part.append(h('h2', {}, 'Experiments'));
  try {
    const list = await get('/v1/admin/reports/experiments');
    if (!list.experiments.length) {
      part.append(h('p', {}, 'The rules in force run no experiment.'));
      return;
    }
    part.append(...await Promise.all(list.experiments.map(experimentSection)));
  } catch (e) {
    part.append(failed('The experiments', e));
  }
}

export async function reports(root) {
  const segments = h('section', { id: 'segment-reports', 'aria-label': 'Segment reach' });
  const experiments = h('section', { id: 'experiment-reports', 'aria-label': 'Experiments' });
  root.append(h('h1', {}, 'Reports'), segments, experiments);
  await loading(root, () => Promise.all([segmentsPart(segments), experimentsPart(experiments)]));
}
