// The explain form (Rules page, analyst scope): a page view given as signals goes to
// POST /v1/admin/explain, the same pipeline as /v1/decide; the answer shows the segments matched, the
// decision per slot and why. Every value shown is set as text, never parsed as HTML.
import { ApiError, post } from './api.js';
import { facts, h, table } from './dom.js';

/** What the device select sends as User-Agent: one typical browser of each class. */
const DEVICES = {
  desktop: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  mobile: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  tablet: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  bot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
};

/** A labelled input; `hint` is tied to it with aria-describedby. */
function field(id, label, attrs = {}, hint) {
  const input = h('input', { id, name: id, ...attrs, 'aria-describedby': hint ? `${id}-hint` : null });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('small', { id: `${id}-hint`, class: 'note' }, hint) : null);
}

function select(id, label, options, hint) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name: id, 'aria-describedby': hint ? `${id}-hint` : null },
      options.map(([value, text]) => h('option', { value }, text))),
    hint ? h('small', { id: `${id}-hint`, class: 'note' }, hint) : null);
}

function checkbox(id, label) {
  return h('div', { class: 'field check' }, h('input', { id, name: id, type: 'checkbox' }), h('label', { for: id }, label));
}

const value = (form, id) => form.querySelector(`#${id}`).value.trim();
const optional = (v) => (v === '' ? undefined : v);

/** The request body from the form; the utm_* fields are added to the page URL's query. */
export function explainRequest(form) {
  let url = value(form, 'ex-url');
  const utm = [['utm_source', 'ex-utm-source'], ['utm_medium', 'ex-utm-medium'], ['utm_campaign', 'ex-utm-campaign']]
    .filter(([, id]) => value(form, id) !== '');
  if (utm.length) {
    try {
      const u = new URL(url);
      for (const [k, id] of utm) u.searchParams.set(k, value(form, id));
      url = u.href;
    } catch {
      // Not a URL: sent as typed, and the server names the field.
    }
  }
  const device = value(form, 'ex-device');
  const offset = value(form, 'ex-tz');
  const pages = value(form, 'ex-pages');
  const categories = value(form, 'ex-session-categories').split(',').map((c) => c.trim()).filter(Boolean);
  const body = {
    url,
    referrer: optional(value(form, 'ex-referrer')),
    category: optional(value(form, 'ex-category')),
    country: optional(value(form, 'ex-country').toUpperCase()),
    user_agent: DEVICES[device],
    accept_language: optional(value(form, 'ex-lang')),
    tz_offset_minutes: offset === '' ? undefined : Number(offset),
    pages_viewed: pages === '' ? undefined : Number(pages),
    session_categories: categories,
    returning: form.querySelector('#ex-returning').checked,
    consent: value(form, 'ex-consent'),
    gpc: form.querySelector('#ex-gpc').checked,
    tcf: optional(value(form, 'ex-tcf')),
    us_privacy: optional(value(form, 'ex-usp')),
    visitor_id: optional(value(form, 'ex-visitor')),
  };
  return body;
}

function render(out, x) {
  const p = x.consent;
  const segments = x.segments.length
    ? table('Segments matched, highest priority first', ['Segment', 'Name', 'Priority', 'Defined at'],
      x.segments.map((s) => [s.id, s.name, String(s.priority), s.defined_at]), { id: 'explain-segments' })
    : h('p', { id: 'explain-segments', class: 'note' }, 'No segment matches this page view.');
  const slots = Object.entries(x.decisions);
  const decisions = table('Decision per slot', ['Slot', 'Variant', 'Why'],
    slots.map(([slot, d]) => [slot, d.variant, d.because]), { id: 'explain-decisions' });
  slots.forEach(([slot, d], i) => {
    const tr = decisions.tBodies[0].rows[i];
    tr.dataset.slot = slot;
    tr.dataset.variant = d.variant;
  });
  const signals = Object.entries(x.signals).map(([k, v]) => [h('code', {}, k), typeof v === 'string' ? v : JSON.stringify(v)]);
  // replaceChildren would print a null as text: only the parts present.
  const parts = [
    h('h3', {}, 'Why this page view gets what it gets'),
    facts([
      ['Consent', `personalise ${p.personalize ? 'yes' : 'no'}, measure ${p.measure ? 'yes' : 'no'}, advertise ${p.advertise ? 'yes' : 'no'}`],
      ['Basis', String(x.consent.basis)],
      ['Rules version', h('code', {}, x.rules_version)],
    ]),
    segments,
    decisions,
    h('details', {}, h('summary', {}, `Signals the rules could read (${signals.length})`), facts(signals, { id: 'explain-signals' })),
    x.warnings.length
      ? h('div', {}, h('h4', {}, 'Warnings'), h('ul', { id: 'explain-warnings' }, x.warnings.map((w) => h('li', {}, `${w.field}: ${w.message}`))))
      : null,
  ].filter(Boolean);
  out.replaceChildren(...parts);
  out.dataset.state = 'done';
}

/** The explain form and where its answer goes. */
export function explainForm() {
  const out = h('div', { id: 'explain-result', 'aria-live': 'polite' });
  const error = h('p', { id: 'explain-error', class: 'error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit' }, 'Explain');
  const form = h('form', { id: 'explain-form', class: 'panel', novalidate: true },
    h('fieldset', {},
      h('legend', {}, 'Page'),
      field('ex-url', 'Page URL', { type: 'url', required: true, value: 'https://bank.example/', autocomplete: 'off' }),
      field('ex-referrer', 'Referrer', { type: 'url', placeholder: 'https://www.google.com/', autocomplete: 'off' }),
      field('ex-category', 'Page category', { type: 'text', autocomplete: 'off' }, 'As the page declares it (meta personify:category).'),
    ),
    h('fieldset', {},
      h('legend', {}, 'Campaign (added to the URL as utm_*)'),
      field('ex-utm-source', 'utm_source', { type: 'text', autocomplete: 'off' }),
      field('ex-utm-medium', 'utm_medium', { type: 'text', autocomplete: 'off' }),
      field('ex-utm-campaign', 'utm_campaign', { type: 'text', autocomplete: 'off' }),
    ),
    h('fieldset', {},
      h('legend', {}, 'Visitor'),
      select('ex-device', 'Device class', [['', 'not sent'], ['desktop', 'desktop'], ['mobile', 'mobile'], ['tablet', 'tablet'], ['bot', 'crawler']],
        'Sent as a typical User-Agent of that class.'),
      field('ex-country', 'Country', { type: 'text', maxlength: 2, size: 3, placeholder: 'GB', autocomplete: 'off' }, 'ISO alpha-2, as the CDN header would give it.'),
      field('ex-lang', 'Accept-Language', { type: 'text', placeholder: 'en-GB,en;q=0.9', autocomplete: 'off' }),
      field('ex-tz', 'UTC offset (minutes)', { type: 'number', min: -720, max: 840, step: 1 }),
      field('ex-pages', 'Pages viewed this session', { type: 'number', min: 0, step: 1 }),
      field('ex-session-categories', 'Categories seen this session', { type: 'text', placeholder: 'savings, first_time_buyer', autocomplete: 'off' }, 'Comma-separated.'),
      checkbox('ex-returning', 'Returning visitor'),
      field('ex-visitor', 'Visitor id', { type: 'text', autocomplete: 'off' }, 'Optional; decides the experiment arm shown.'),
    ),
    h('fieldset', {},
      h('legend', {}, 'Consent'),
      select('ex-consent', 'Consent', [['granted', 'assume explicit consent to everything'], ['default', 'resolve from the strings below and the country']]),
      checkbox('ex-gpc', 'Global Privacy Control (Sec-GPC: 1)'),
      field('ex-tcf', 'TCF TC string', { type: 'text', autocomplete: 'off' }),
      field('ex-usp', 'US privacy string', { type: 'text', autocomplete: 'off' }),
    ),
    h('div', { class: 'actions' }, button),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    error.textContent = '';
    button.disabled = true;
    out.dataset.state = 'loading';
    try {
      render(out, await post('/v1/admin/explain', explainRequest(form)));
    } catch (e) {
      out.replaceChildren();
      out.dataset.state = 'error';
      error.textContent = e instanceof ApiError && e.status === 401
        ? `The token is no longer accepted: ${e.message}. Sign in again.`
        : `Not explained: ${e.message}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { id: 'explain', 'aria-labelledby': 'explain-title' },
    h('h2', { id: 'explain-title' }, 'Explain a page view'),
    h('p', { class: 'note' }, 'Runs the page view through the same pipeline as a live decision, on the rules in force. Nothing is counted or stored.'),
    form, error, out);
}
