// The preview-link maker (Rules page, analyst scope): forced segments and/or slot variants and an
// expiry go to POST /v1/admin/preview; the token comes back as a link to the site with
// ?personify_preview=<token>, which the browser SDK sends with the page view. The link is built with
// the URL API and shown as text; nothing is parsed as HTML.
import { post } from './api.js';
import { facts, h } from './dom.js';

/** Longest life of a token the server mints: a day. */
const MAX_MINUTES = 24 * 60;
const PARAM = 'personify_preview';

/** The site page with the token as its preview parameter; null unless an http(s) URL. */
export function previewLink(site, token) {
  let u;
  try {
    u = new URL(site);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  u.searchParams.set(PARAM, token);
  return u.href;
}

/**
 * The maker. `segments` are `{id, name?}`; `slots` are `{id, variants: [id…]}` (what the token's
 * scopes can list: all of them with compliance, an experiment's arms otherwise).
 */
export function previewMaker({ segments, slots }) {
  const error = h('p', { id: 'preview-error', class: 'error', role: 'alert', hidden: true });
  const out = h('div', { id: 'preview-result', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, 'Make a preview link');
  const segmentBoxes = segments.map((s) => h('div', { class: 'field check' },
    h('input', { type: 'checkbox', id: `pv-seg-${s.id}`, name: 'segment', value: s.id }),
    h('label', { for: `pv-seg-${s.id}` }, s.name ? `${s.name} (${s.id})` : s.id)));
  const slotSelects = slots.map((slot) => h('div', { class: 'field' },
    h('label', { for: `pv-slot-${slot.id}` }, `Slot ${slot.id}`),
    h('select', { id: `pv-slot-${slot.id}`, name: 'slot', 'data-slot': slot.id },
      h('option', { value: '' }, 'as the segments decide'),
      slot.variants.map((v) => h('option', { value: v }, v)))));
  const form = h('form', { id: 'preview-form', class: 'panel', novalidate: true },
    h('fieldset', {},
      h('legend', {}, 'Force segments (the view belongs to exactly these)'),
      segmentBoxes.length ? h('div', { class: 'checks' }, segmentBoxes) : h('p', { class: 'note' }, 'No segment is listed for this token.')),
    h('fieldset', {},
      h('legend', {}, 'Force slot variants (win over any segment)'),
      slotSelects.length ? slotSelects : h('p', { class: 'note' }, 'No slot is listed for this token.')),
    h('fieldset', {},
      h('legend', {}, 'Link'),
      h('div', { class: 'field' },
        h('label', { for: 'pv-site' }, 'Site page URL'),
        h('input', { id: 'pv-site', type: 'url', required: true, placeholder: 'https://www.example.com/', autocomplete: 'off', 'aria-describedby': 'pv-site-hint' }),
        h('small', { id: 'pv-site-hint', class: 'note' }, 'The page of your site (with the personify SDK) the link opens.')),
      h('div', { class: 'field' },
        h('label', { for: 'pv-minutes' }, 'Expires after (minutes)'),
        h('input', { id: 'pv-minutes', type: 'number', min: 1, max: MAX_MINUTES, step: 1, value: 60, required: true, 'aria-describedby': 'pv-minutes-hint' }),
        h('small', { id: 'pv-minutes-hint', class: 'note' }, `At most ${MAX_MINUTES} (24 hours).`))),
    h('div', { class: 'actions' }, button));

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const site = form.querySelector('#pv-site').value.trim();
    const minutes = Number(form.querySelector('#pv-minutes').value);
    const chosen = [...form.querySelectorAll('input[name=segment]:checked')].map((i) => i.value);
    const variants = {};
    for (const sel of form.querySelectorAll('select[name=slot]')) if (sel.value) variants[sel.dataset.slot] = sel.value;
    if (!previewLink(site, 'x')) return fail('Enter the site page URL (http or https) the link should open.');
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_MINUTES) return fail(`The expiry is 1 to ${MAX_MINUTES} minutes.`);
    if (!chosen.length && !Object.keys(variants).length) return fail('Choose at least one segment or slot variant to force.');
    button.disabled = true;
    try {
      const t = await post('/v1/admin/preview', { segments: chosen, variants, expires_in_seconds: minutes * 60 });
      const link = previewLink(site, t.token);
      const linkBox = h('input', { id: 'preview-link', type: 'text', readonly: true, value: link, 'aria-label': 'Preview link', class: 'wide' });
      const copy = h('button', { type: 'button', id: 'preview-copy' }, 'Copy link');
      const copied = h('span', { id: 'preview-copied', class: 'note', 'aria-live': 'polite' });
      copy.addEventListener('click', async () => {
        linkBox.select();
        try {
          await navigator.clipboard.writeText(link);
          copied.textContent = 'Copied.';
        } catch {
          copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
        }
      });
      const forced = [
        t.segments.length ? `segments ${t.segments.join(', ')}` : null,
        Object.keys(t.variants).length ? `variants ${Object.entries(t.variants).map(([s, v]) => `${s}=${v}`).join(', ')}` : null,
      ].filter(Boolean).join('; ');
      out.replaceChildren(
        h('h3', {}, 'Preview link'),
        h('div', { class: 'actions' }, linkBox, copy, copied),
        facts([
          ['Forces', forced],
          ['Expires', new Date(t.expires_at * 1000).toISOString().replace('.000Z', 'Z')],
          ['Token', h('code', { id: 'preview-token', class: 'token' }, t.token)],
          ['Or send it as', h('code', {}, `${t.header}: <token>`)],
        ]),
        h('p', { class: 'note' }, 'Views carrying it get these decisions with "preview": true, are never counted and never reach RTB. Anyone with the link can use it until it expires.'),
      );
      out.dataset.state = 'done';
    } catch (e) {
      out.replaceChildren();
      fail(`No link made: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  });

  return h('section', { id: 'preview', 'aria-labelledby': 'preview-title' },
    h('h2', { id: 'preview-title' }, 'Preview link'),
    h('p', { class: 'note' }, 'Walk the site as a segment before it goes live: a short-lived, signed token that forces segments or variants.'),
    form, error, out);
}
