/**
 * personify browser SDK: one decision per page view, filled into marked slots with textContent only.
 *
 * Privacy contract (README "For website frontends"):
 * - nothing is written to the device until a decision grants `personalize` (and, where TCF applies,
 *   purpose 1): then only the session summary; a random visitor id only with TCF purpose 1 or when the
 *   visitor records a choice (consent.set, optOut: remembering the objection is strictly necessary),
 *   and with it, for ten minutes, that choice (the purposes it denies and its receipt's log position)
 *   so the next page views restate it to whichever node answers;
 * - segments are never exposed to the page (a sensitive one would be readable by any script on it):
 *   the API and DOM events carry slot decisions and the consent that applied, nothing else;
 * - content never reaches innerHTML; attributes come from an allow-list, links only to http(s) or
 *   relative URLs;
 * - Google Consent Mode is read from `window.dataLayer` (gtag has no read API) and only withholds on
 *   the server: a "denied" takes a purpose away, a "granted" never grants one.
 */

const ID_KEY = 'personify.id';
const SESSION_KEY = 'personify.session';
/** The visitor's latest choice, restated with page views until every node surely holds it. */
const CHOICE_KEY = 'personify.choice';
/**
 * How long a choice is restated: nodes apply another node's write within milliseconds and re-read
 * the log every 30 s regardless, so ten minutes is a wide margin; after it the ordinary order of
 * consent signals applies again (a newer TC string may outrank an older record).
 */
const CHOICE_RESTATED_MS = 10 * 60 * 1000;
const PURPOSES = ['personalize', 'measure', 'advertise'];
/** A session ends after 30 minutes without a page view. */
const SESSION_GAP_MS = 30 * 60 * 1000;
const MAX_CATEGORIES = 10;
const PREVIEW_PARAM = 'personify_preview';
/** Attributes content may set, each from `data-personify-<attr>="<content key>"`. */
const ATTRIBUTES = ['href', 'title', 'alt', 'aria-label'];
/** A decision the visitor asked for (a consent change) may take longer than a page-load one. */
const ACTION_TIMEOUT_MS = 5000;
/** The Consent Mode types the server takes (gtag's own names). */
const CONSENT_MODE_TYPES = [
  'ad_storage',
  'ad_user_data',
  'ad_personalization',
  'analytics_storage',
  'personalization_storage',
  'functionality_storage',
  'security_storage',
];

/** Starts the SDK: gathers consent signals, decides, fills slots. Returns the public API. */
export function start(options) {
  const o = options || {};
  const win = window;
  const doc = document;
  const nav = navigator;
  const endpoint = String(o.endpoint || '').replace(/\/+$/, '');
  const deadline = Number(o.deadlineMs) > 0 ? Number(o.deadlineMs) : 300;
  const policyVersion = o.policyVersion || '2026-11';
  const started = Date.now();
  const signals = { gpc: nav.globalPrivacyControl === true };
  const originals = new Map();
  const location = win.location;
  const preview = new URLSearchParams(location.search).get(PREVIEW_PARAM);
  const meta = doc.querySelector('meta[name="personify:category"]');
  const category = o.category || (meta && meta.getAttribute('content')) || undefined;
  const view = summary(category);
  let last = null;
  let seq = 0;
  let sent = null;
  let live = false;
  let settle;
  const ready = new Promise((resolve) => (settle = resolve));
  const domReady =
    doc.readyState === 'loading'
      ? new Promise((resolve) => doc.addEventListener('DOMContentLoaded', resolve, { once: true }))
      : Promise.resolve();

  function storage() {
    try {
      return win.localStorage;
    } catch (e) {
      return null;
    }
  }
  function read(key) {
    try {
      return storage().getItem(key);
    } catch (e) {
      return null;
    }
  }
  function write(key, value) {
    try {
      storage().setItem(key, value);
    } catch (e) {
      /* storage full or blocked: the cookieless path still works */
    }
  }
  function remove(key) {
    try {
      storage().removeItem(key);
    } catch (e) {
      /* nothing stored */
    }
  }
  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  /**
   * Remembers a choice just recorded: the purposes it denies and its receipt's log position. Page
   * views restate them, so a node that has not applied the choice yet still honours a denial at
   * once and waits briefly (50 ms at most) for a grant.
   */
  function remember(receipt, granted) {
    const choice = { withdrawn: PURPOSES.filter((p) => !granted[p]), at: Date.now() };
    if (receipt && Number.isSafeInteger(receipt.leaf_index) && receipt.leaf_index >= 0) {
      choice.after = receipt.leaf_index;
    }
    write(CHOICE_KEY, JSON.stringify(choice));
  }
  /** The remembered choice while it is restated, else nothing (and it is forgotten). */
  function recentChoice() {
    const c = parse(read(CHOICE_KEY));
    const age = c && typeof c.at === 'number' ? Date.now() - c.at : -1;
    if (age < 0 || age > CHOICE_RESTATED_MS || !Array.isArray(c.withdrawn)) {
      if (c) remove(CHOICE_KEY);
      return null;
    }
    const restated = {};
    const withdrawn = c.withdrawn.filter((p) => PURPOSES.indexOf(p) >= 0);
    if (withdrawn.length) restated.withdrawn = withdrawn;
    if (Number.isSafeInteger(c.after) && c.after >= 0) restated.after = c.after;
    return restated;
  }

  /** This page view's session summary, from the stored one if the device holds one. */
  function summary(cat) {
    const now = Date.now();
    const before = parse(read(SESSION_KEY));
    const same = before && typeof before.last === 'number' && now - before.last < SESSION_GAP_MS;
    const s = {
      pages_viewed: (same && before.pages_viewed >>> 0) || 0,
      categories: same && Array.isArray(before.categories) ? before.categories.slice(-MAX_CATEGORIES) : [],
      returning: same ? !!before.returning : !!before,
      last: now,
    };
    s.pages_viewed += 1;
    if (cat && s.categories.indexOf(cat) < 0) s.categories = s.categories.concat(cat).slice(-MAX_CATEGORIES);
    return s;
  }

  function randomId() {
    const c = win.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
  }
  function visitorId() {
    let id = read(ID_KEY);
    if (!id) {
      id = randomId();
      write(ID_KEY, id);
    }
    return id;
  }

  /** The page URL as sent: host, path and utm_* only; the preview token goes separately. */
  function pageUrl() {
    const u = new URL(location.href);
    const keep = new URLSearchParams();
    u.searchParams.forEach((v, k) => k.indexOf('utm_') === 0 && keep.append(k, v));
    u.search = keep.toString();
    u.hash = '';
    return u.href;
  }
  function referrer() {
    try {
      return doc.referrer ? new URL(doc.referrer).origin + '/' : undefined;
    } catch (e) {
      return undefined;
    }
  }

  function consentStrings() {
    const c = {};
    if (signals.tcf) c.tcf = signals.tcf;
    if (signals.gpp) {
      c.gpp = signals.gpp;
      c.gpp_sid = signals.gppSid;
    }
    if (signals.usp) c.us_privacy = signals.usp;
    if (signals.gpc) c.gpc = true;
    if (signals.gcm) c.google_consent_mode = signals.gcm;
    return c;
  }

  /**
   * Merges one Consent Mode state (gtag's `{type: 'granted' | 'denied'}`) into what is sent. A
   * `default` scoped to regions may not be this visitor's: only its "denied" values are taken, the
   * stricter reading. Returns whether anything was taken.
   */
  function consentMode(state, regional) {
    if (!state || typeof state !== 'object') return false;
    let took = false;
    for (const t of CONSENT_MODE_TYPES) {
      const v = state[t];
      if ((v === 'denied' || (v === 'granted' && !regional)) && (!signals.gcm || signals.gcm[t] !== v)) {
        signals.gcm = Object.assign({}, signals.gcm, { [t]: v });
        took = true;
      }
    }
    return took;
  }

  /** One dataLayer entry: gtag pushes its `arguments`, `['consent', 'default' | 'update', {…}]`. */
  function dataLayerEntry(e) {
    if (!e || e[0] !== 'consent' || (e[1] !== 'default' && e[1] !== 'update')) return false;
    const state = e[2];
    return consentMode(state, e[1] === 'default' && !!state && Array.isArray(state.region));
  }

  /** Replays the consent commands already in `window.dataLayer`, then watches later pushes. */
  function watchDataLayer() {
    const layer = (win.dataLayer = win.dataLayer || []);
    if (!Array.isArray(layer)) return;
    for (let i = 0; i < layer.length; i++) dataLayerEntry(layer[i]);
    const push = layer.push;
    layer.push = function () {
      const r = push.apply(this, arguments);
      let took = false;
      for (let i = 0; i < arguments.length; i++) took = dataLayerEntry(arguments[i]) || took;
      if (took) changed();
      return r;
    };
  }

  function payload() {
    const b = {
      page: { url: pageUrl(), referrer: referrer(), category },
      session: { pages_viewed: view.pages_viewed, categories: view.categories, returning: view.returning },
      tz_offset_minutes: -new Date().getTimezoneOffset(),
    };
    if (o.site) b.site = o.site;
    const id = read(ID_KEY);
    if (id) b.visitor_id = id;
    const c = Object.assign(consentStrings(), recentChoice());
    if (Object.keys(c).length) b.consent = c;
    if (preview) b.preview = preview;
    return b;
  }

  function post(path, body, timeoutMs) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    return fetch(endpoint + path, {
      method: 'POST',
      // text/plain keeps this a CORS "simple request": no preflight on the page-view path.
      headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify(body),
      credentials: 'omit',
      signal: abort.signal,
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error('personify: HTTP ' + r.status))))
      .finally(() => clearTimeout(timer));
  }

  function safeUrl(value) {
    try {
      return /^https?:$/.test(new URL(value, location.href).protocol);
    } catch (e) {
      return false;
    }
  }

  /** Fills one slot from its decision, or restores the page's own defaults (`d` null). */
  function fill(slot, d) {
    const content = (d && d.content) || {};
    const fields = [slot].concat(Array.from(slot.querySelectorAll('*')));
    for (const el of fields) {
      let saved = originals.get(el);
      const field = el.getAttribute('data-personify-field');
      const attrs = ATTRIBUTES.filter((a) => el.hasAttribute('data-personify-' + a));
      if (!field && !attrs.length) continue;
      if (!saved) {
        saved = { text: el.textContent, attrs: {} };
        for (const a of attrs) saved.attrs[a] = el.getAttribute(a);
        originals.set(el, saved);
      }
      if (field) {
        const v = content[field];
        el.textContent = typeof v === 'string' ? v : saved.text;
      }
      for (const a of attrs) {
        const v = content[el.getAttribute('data-personify-' + a)];
        const ok = typeof v === 'string' && (a !== 'href' || safeUrl(v));
        const value = ok ? v : saved.attrs[a];
        if (value == null) el.removeAttribute(a);
        else el.setAttribute(a, value);
      }
    }
    if (d) slot.setAttribute('data-personify-variant', String(d.variant));
    else slot.removeAttribute('data-personify-variant');
  }

  function emit(name, detail) {
    doc.dispatchEvent(new CustomEvent(name, { detail }));
  }

  /** Applies an answer: slots, then what the device may keep. Segments are dropped here. */
  function apply(answer) {
    const c = answer.consent || {};
    const consent = { personalize: !!c.personalize, measure: !!c.measure, advertise: !!c.advertise, basis: c.basis };
    const decisions = {};
    const raw = (consent.personalize && answer.decisions) || {};
    for (const slot of Object.keys(raw)) {
      const d = raw[slot] || {};
      decisions[slot] = { variant: d.variant, content: d.content || {} };
      if (d.experiment) decisions[slot].experiment = { id: d.experiment.id, arm: d.experiment.arm };
    }
    doc.querySelectorAll('[data-personify-slot]').forEach((el) => {
      fill(el, decisions[el.getAttribute('data-personify-slot')] || null);
    });
    const deviceStorage = signals.tcfApplies ? signals.storage : true;
    if (consent.personalize && deviceStorage) write(SESSION_KEY, JSON.stringify(view));
    else remove(SESSION_KEY);
    if (signals.tcfApplies && signals.storage) visitorId();
    last = { decisions, consent };
    // A preview (a valid ?personify_preview= token): the page may say so; never counted server-side.
    if (answer.preview === true) last.preview = true;
    emit('personify:decision', last);
    return last;
  }

  /** The first outcome settles `ready` and fires `personify:ready`, once. */
  function finish(result, reason) {
    if (settle) {
      const s = status(reason);
      settle(s);
      settle = null;
      emit('personify:ready', s);
    }
    return result;
  }

  /** Asks for a decision; only the newest request is applied. Never rejects. */
  function decide(timeoutMs) {
    const mine = ++seq;
    const body = payload();
    sent = JSON.stringify(consentStrings());
    return post('/v1/decide', body, timeoutMs)
      .then((answer) => domReady.then(() => (mine === seq ? apply(answer) : last)))
      .then(
        (r) => finish(r),
        (e) => finish(null, e && e.name === 'AbortError' ? 'timeout' : 'unavailable'),
      );
  }

  /** A CMP reported a change: decide again if what would be sent differs. */
  function changed() {
    if (live && JSON.stringify(consentStrings()) !== sent) decide(ACTION_TIMEOUT_MS);
  }

  function status(reason) {
    const s = {
      decided: !!last,
      decisions: last ? last.decisions : {},
      consent: last ? last.consent : null,
      stored: { visitor_id: !!read(ID_KEY), session: !!read(SESSION_KEY), choice: !!read(CHOICE_KEY) },
      signals: {
        gpc: signals.gpc,
        tcf: !!signals.tcf,
        gpp: !!signals.gpp,
        us_privacy: !!signals.usp,
        google_consent_mode: !!signals.gcm,
      },
    };
    if (last && last.preview) s.preview = true;
    if (reason) s.reason = reason;
    return s;
  }

  /** Listens to the CMP APIs present; `done` once each answered or the CMP wait is over. */
  function gather(done) {
    let waiting = 0;
    let fired = false;
    const once = () => {
      if (!fired) {
        fired = true;
        done();
      }
    };
    const answered = () => --waiting <= 0 && once();
    const first = (fn) => {
      let seen = false;
      return (...args) => {
        fn(...args);
        if (!seen) {
          seen = true;
          answered();
        }
        changed();
      };
    };
    try {
      if (typeof win.__tcfapi === 'function') {
        waiting++;
        win.__tcfapi(
          'addEventListener',
          2,
          first((tc, ok) => {
            if (!ok || !tc || (tc.eventStatus !== 'tcloaded' && tc.eventStatus !== 'useractioncomplete')) return;
            signals.tcfApplies = tc.gdprApplies !== false;
            signals.tcf = signals.tcfApplies ? tc.tcString : undefined;
            signals.storage = !!(tc.purpose && tc.purpose.consents && tc.purpose.consents[1]);
          }),
        );
      }
      if (typeof win.__gpp === 'function') {
        waiting++;
        win.__gpp(
          'addEventListener',
          first((e, ok) => {
            const p = e && e.pingData;
            if (!ok || !p || !p.gppString || (p.signalStatus && p.signalStatus !== 'ready')) return;
            signals.gpp = p.gppString;
            signals.gppSid = (p.applicableSections || []).filter((n) => n > 0);
          }),
        );
      }
      if (typeof win.__uspapi === 'function') {
        waiting++;
        win.__uspapi(
          'getUSPData',
          1,
          first((d, ok) => {
            if (ok && d && d.uspString) signals.usp = d.uspString;
          }),
        );
      }
      watchDataLayer();
    } catch (e) {
      /* a broken CMP must not break the page: decide on what was gathered */
    }
    if (!waiting) once();
    else setTimeout(once, Math.min(100, deadline / 2));
  }

  gather(() => {
    live = true;
    decide(Math.max(1, deadline - (Date.now() - started)));
  });

  return {
    /** Resolves once with the first outcome (a decision, or `reason`: timeout / unavailable). */
    ready,
    /** What applies now and what the device holds. */
    status: () => status(),
    /** Decides again (a single-page app's navigation). */
    refresh: () => decide(ACTION_TIMEOUT_MS).then(() => status()),
    /** Counts a conversion for `goal` (sendBeacon, text/plain); false when measuring is not allowed. */
    convert(goal) {
      if (last && !last.consent.measure) return false;
      const base = Object.assign(payload(), { type: 'conversion', goal: String(goal) });
      const beacon = (extra) => {
        const blob = new Blob([JSON.stringify(Object.assign({}, base, extra))], { type: 'text/plain' });
        return nav.sendBeacon(endpoint + '/v1/events', blob);
      };
      const seen = {};
      const experiments = [];
      for (const d of Object.values(last ? last.decisions : {})) {
        if (d.experiment && !seen[d.experiment.id]) {
          seen[d.experiment.id] = 1;
          experiments.push(d.experiment);
        }
      }
      if (!experiments.length) return beacon({});
      return experiments.map((e) => beacon({ experiment: e.id, variant: e.arm })).every(Boolean);
    },
    consent: {
      /** Records the visitor's choice (stores a visitor id to remember it), then decides again. */
      set(purposes, opts) {
        const p = purposes || {};
        const x = opts || {};
        const granted = { personalize: !!p.personalize, measure: !!p.measure, advertise: !!p.advertise };
        return post(
          '/v1/consent',
          {
            visitor_id: visitorId(),
            purposes: granted,
            source: x.source || 'banner',
            policy_version: x.policy_version || policyVersion,
          },
          ACTION_TIMEOUT_MS,
        ).then((receipt) => {
          remember(receipt, granted);
          return decide(ACTION_TIMEOUT_MS).then(() => receipt);
        });
      },
      /**
       * Google Consent Mode state from a CMP that keeps it inside Tag Manager (`{ad_user_data:
       * 'denied', …}`); decides again when it changes what is sent. Only ever withholds.
       */
      googleConsentMode(state) {
        consentMode(state, false);
        return live && JSON.stringify(consentStrings()) !== sent
          ? decide(ACTION_TIMEOUT_MS).then(() => status())
          : ready.then(() => status());
      },
    },
    /** Opts out of everything: the id is kept (to remember the objection), the summary deleted. */
    optOut() {
      const id = visitorId();
      remove(SESSION_KEY);
      return post('/v1/opt-out', { visitor_id: id }, ACTION_TIMEOUT_MS).then((receipt) => {
        remember(receipt, {});
        return decide(ACTION_TIMEOUT_MS).then(() => receipt);
      });
    },
  };
}
