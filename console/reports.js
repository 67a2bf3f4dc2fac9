// Reports: segment reach over a date range and, per experiment, a forest plot, the arms' numbers and
// a verdict. A row below k shows "fewer than k" and nothing derived from it.
import { get } from './api.js';
import { forestPlot } from './forest.js';
import { exposuresOverTime } from './timeline.js';
import { facts, h, isoDay, pct, table } from './dom.js';
import { released, verdict } from './stats.js';

const FEWER = 'fewer than k';
/** Days of daily exposures drawn at most (one request per day and experiment). */
const MAX_DAYS = 31;
const fmt = new Intl.NumberFormat('en');

function suppressedCell() {
  return h('span', { class: 'suppressed' }, FEWER);
}

function segmentsTable(rep) {
  const rows = rep.segments.map((s) => (s.suppressed
    ? [s.id, suppressedCell(), suppressedCell()]
    : [s.id, fmt.format(s.uniques), fmt.format(s.views)]));
  const t = table(`Segment reach, ${rep.from} to ${rep.to} (k = ${rep.k}${rep.epsilon ? `, noise ε = ${rep.epsilon}` : ''})`, ['Segment', 'Unique visitors', 'Page views'], rows, { id: 'segments-table' });
  rep.segments.forEach((s, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.segment = s.id;
    if (s.suppressed) tr.dataset.suppressed = 'true';
  });
  return t;
}

function armRow(a, control, isControl) {
  if (!released(a)) {
    return [a.arm, suppressedCell(), suppressedCell(), '—', '—', '—', '—', isControl ? 'control' : verdict(a, control).text];
  }
  return [
    a.arm,
    fmt.format(a.exposures),
    fmt.format(a.conversions),
    a.rate === null ? '—' : pct(a.rate),
    isControl || a.lift === null ? '—' : pct(a.lift, 1),
    isControl || !a.ci95 ? '—' : `${(a.ci95[0] * 100).toFixed(2)} to ${(a.ci95[1] * 100).toFixed(2)} pp`,
    isControl || a.p_value === null ? '—' : a.p_value.toPrecision(2),
    isControl ? 'control' : verdict(a, control).text,
  ];
}

/** The UTC days from `from` to `to` (YYYY-MM-DD), the last MAX_DAYS of them. */
function daysBetween(from, to) {
  const out = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end; t += 86400000) out.push(new Date(t).toISOString().slice(0, 10));
  return out.slice(-MAX_DAYS);
}

async function daily(id, days) {
  const reps = await Promise.all(days.map((d) => get(`/v1/admin/reports/experiments/${encodeURIComponent(id)}?from=${d}&to=${d}`)));
  const arms = reps[0]?.arms.map((a) => a.arm) || [];
  const series = Object.fromEntries(arms.map((arm) => [arm, reps.map((r) => r.arms.find((a) => a.arm === arm)?.exposures ?? null)]));
  return { days, arms, series };
}

function experimentSection(meta, rep, perDay) {
  const control = rep.arms.find((a) => a.arm === rep.control);
  const others = rep.arms.filter((a) => a.arm !== rep.control);
  const id = `exp-${meta.id}`;
  const t = table(`Arms of ${meta.id}, ${rep.from} to ${rep.to} (unique visitors; k = ${rep.k})`,
    ['Arm', 'Exposures', 'Conversions', 'Rate', 'Relative lift', '95% interval of the difference', 'p-value', 'Verdict'],
    rep.arms.map((a) => armRow(a, control, a.arm === rep.control)), { class: 'arms' });
  rep.arms.forEach((a, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.arm = a.arm;
    if (!released(a)) tr.dataset.suppressed = 'true';
  });
  return h('section', { class: 'experiment', id, 'data-experiment': meta.id, 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, meta.id),
    facts([
      ['Slot', meta.slot],
      ['Runs for segment', meta.segment || '—'],
      ['Holdout', `${meta.holdout_percent}% (sees the slot's default)`],
      ['Compared against', rep.control || '—'],
    ]),
    others.length ? forestPlot(`${id}-plot`, others, rep.control) : null,
    t,
    h('h4', {}, perDay.days.length < daysBetween(rep.from, rep.to).length ? `Exposures over time (last ${MAX_DAYS} days)` : 'Exposures over time'),
    exposuresOverTime(`${id}-daily`, perDay.days, perDay.arms, perDay.series));
}

export async function reports(root) {
  const today = new Date();
  const from = h('input', { type: 'date', id: 'from', value: isoDay(new Date(today.getTime() - 6 * 86400000)), required: true });
  const to = h('input', { type: 'date', id: 'to', value: isoDay(today), required: true });
  const form = h('form', { id: 'range', class: 'range' },
    h('label', { for: 'from' }, 'From'), from, h('label', { for: 'to' }, 'To'), to,
    h('button', { type: 'submit' }, 'Show'));
  const body = h('div', { id: 'reports-body' });
  root.append(h('h1', {}, 'Reports'), form, body);
  const load = async () => {
    root.setAttribute('aria-busy', 'true');
    delete root.dataset.loaded;
    const q = `from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}`;
    try {
      const [segs, list] = await Promise.all([get(`/v1/admin/reports/segments?${q}`), get('/v1/admin/reports/experiments')]);
      const reps = await Promise.all(list.experiments.map((e) => get(`/v1/admin/reports/experiments/${encodeURIComponent(e.id)}?${q}`)));
      const days = daysBetween(from.value, to.value);
      const perDay = await Promise.all(list.experiments.map((e) => daily(e.id, days)));
      body.replaceChildren(...[
        h('h2', {}, 'Segment reach'),
        h('p', { class: 'note' }, `A segment with fewer than k = ${segs.k} distinct visitors (and networks) shows "${FEWER}", never a number.`),
        segmentsTable(segs),
        h('h2', {}, 'Experiments'),
        list.experiments.length ? null : h('p', {}, 'The rules in force run no experiment.'),
        ...list.experiments.map((e, i) => experimentSection(e, reps[i], perDay[i])),
      ].filter(Boolean));
    } catch (e) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, `The reports could not be loaded: ${e.message}`));
    }
    root.setAttribute('aria-busy', 'false');
    root.dataset.loaded = 'true';
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  await load();
}
