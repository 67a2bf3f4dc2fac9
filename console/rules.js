// Rules: the segments, slots and experiments in force, from what the token may read: the record of
// processing (compliance) and the experiment list (analyst). Sensitive segments are flagged. With the
// analyst scope, the explain form and the preview-link maker (explain.js, preview.js).
import { get } from './api.js';
import { h, table } from './dom.js';
import { explainForm } from './explain.js';
import { previewMaker } from './preview.js';

function segmentsTable(rec) {
  const rows = rec.segments.map((s) => [
    s.id,
    s.name,
    s.sensitive ? h('strong', { class: 'sensitive' }, `sensitive: ${s.sensitive}`) : 'no',
    s.signals.join(', '),
    s.defined_at,
  ]);
  const t = table('Segments, highest priority first', ['Segment', 'Name', 'Sensitive', 'Signals read', 'Defined at'], rows, { id: 'rules-segments' });
  rec.segments.forEach((s, i) => {
    const tr = t.tBodies[0].rows[i];
    tr.dataset.segment = s.id;
    if (s.sensitive) tr.classList.add('is-sensitive');
  });
  return t;
}

function slotsTable(rec) {
  const sensitive = new Set(rec.segments.filter((s) => s.sensitive).map((s) => s.id));
  const rows = rec.slots.map((slot) => [
    slot.id,
    slot.default,
    slot.variants.join(', '),
    slot.shown.length
      ? h('ul', { class: 'plain' }, slot.shown.map((x) => h('li', {},
        x.segment, sensitive.has(x.segment) ? h('strong', { class: 'sensitive' }, ' (sensitive)') : null,
        ' → ', x.experiment ? `experiment ${x.experiment}` : x.variant)))
      : 'everyone gets the default',
  ]);
  return table('Slots: the default, every variant, and who gets which', ['Slot', 'Default', 'Variants', 'Segment → variant'], rows, { id: 'rules-slots' });
}

function experimentsTable(list) {
  const rows = list.experiments.map((e) => [
    e.id,
    e.slot,
    e.segment || '—',
    `${e.holdout_percent}%`,
    e.arms.map((a) => `${a.variant} ${a.weight}%`).join(', '),
    [...list.goals, ...e.goals].join(', ') || '—',
  ]);
  return table('Experiments', ['Experiment', 'Slot', 'Segment', 'Holdout', 'Arms (share outside the holdout)', 'Goals counted'], rows, { id: 'rules-experiments' });
}

/** What the preview maker can offer: every segment and slot variant with compliance, else what the
 * analyst routes list (segment ids from the reach report, slots from the experiments' arms). */
function previewChoices(rec, list, reach) {
  if (rec) {
    return {
      segments: rec.segments.map((s) => ({ id: s.id, name: s.name })),
      slots: rec.slots.map((slot) => ({ id: slot.id, variants: slot.variants })),
    };
  }
  const slots = new Map();
  for (const e of list?.experiments || []) {
    const v = slots.get(e.slot) || new Set();
    e.arms.forEach((a) => v.add(a.variant));
    slots.set(e.slot, v);
  }
  return {
    segments: (reach?.segments || []).map((s) => ({ id: s.id })),
    slots: [...slots].map(([id, v]) => ({ id, variants: [...v] })),
  };
}

export async function rules(root, { scopes }) {
  root.append(h('h1', {}, 'Rules'));
  const analyst = scopes.has('analyst');
  const [rec, list, reach] = await Promise.all([
    scopes.has('compliance') ? get('/v1/admin/compliance') : null,
    analyst ? get('/v1/admin/reports/experiments') : null,
    analyst && !scopes.has('compliance') ? get('/v1/admin/reports/segments') : null,
  ]);
  const version = rec?.rules_version || list?.rules_version;
  root.append(h('p', {}, 'Rules version ', h('code', {}, version)));
  if (rec) {
    root.append(h('h2', {}, 'Segments'), segmentsTable(rec), h('h2', {}, 'Slots'), slotsTable(rec));
  } else {
    root.append(h('p', { class: 'note' }, 'Segments and slots are listed for a token with the compliance scope.'));
  }
  if (list) {
    root.append(h('h2', {}, 'Experiments'), experimentsTable(list));
  } else {
    root.append(h('p', { class: 'note' }, 'Experiments are listed for a token with the analyst scope.'));
  }
  if (analyst) {
    root.append(explainForm(), previewMaker(previewChoices(rec, list, reach)));
  } else {
    root.append(h('p', { class: 'note' }, 'The explain form and the preview-link maker are for a token with the analyst scope.'));
  }
}
