/**
 * personify real-time-data provider for Prebid.js.
 *
 * Before the auction, asks personify which IAB audience and content taxonomy buckets the page view
 * falls into and merges the answer into `ortb2Fragments.global` (user.data, site.content.data), so
 * every bidder sees them. personify releases buckets only with advertise consent, only k-anonymous
 * ones, never sensitive ones: the module sends the consent strings Prebid already holds, and the
 * Google Consent Mode state the page's gtag pushed to `window.dataLayer` (which only withholds), and
 * adds nothing about the visitor itself (no ids, no cookies).
 *
 * In a Prebid build:
 *   import { submodule } from '../src/hook.js';
 *   import { personifySubmodule } from './personifyRtdProvider.js';
 *   submodule('realTimeData', personifySubmodule);
 * and in the page:
 *   pbjs.setConfig({ realTimeData: { auctionDelay: 100, dataProviders: [{ name: 'personify', waitForIt: true,
 *     params: { endpoint: 'https://personify.bank.example/v1/rtb/segments', timeoutMs: 80 } }] } });
 * (the page's origin must be in personify's cors.allowed_origins; `token` only for server-side use).
 */

const SEGTAX_AUDIENCE = 4;
const SEGTAX_CONTENT = 7;

const CONSENT_MODE_TYPES = ['ad_storage', 'ad_user_data', 'ad_personalization', 'analytics_storage', 'personalization_storage'];

/**
 * The Google Consent Mode state in a `dataLayer` (gtag pushes `['consent', 'default' | 'update', {…}]`
 * as its `arguments`), replayed in order; null without any. A `default` scoped to regions may not be
 * this visitor's, so only its "denied" values are taken.
 */
export function consentModeOf(dataLayer) {
  let state = null;
  for (const e of Array.isArray(dataLayer) ? dataLayer : []) {
    if (!e || e[0] !== 'consent' || (e[1] !== 'default' && e[1] !== 'update') || !e[2] || typeof e[2] !== 'object') continue;
    const regional = e[1] === 'default' && Array.isArray(e[2].region);
    for (const t of CONSENT_MODE_TYPES) {
      const v = e[2][t];
      if (v === 'denied' || (v === 'granted' && !regional)) state = Object.assign({}, state, { [t]: v });
    }
  }
  return state;
}

/** The bid-request fields personify reads, from Prebid's ortb2 and consent data. */
export function buildBidRequest(ortb2, userConsent, page, consentMode) {
  const site = Object.assign({}, ortb2.site || {});
  if (!site.page && page) site.page = page.url;
  if (!site.ref && page && page.referrer) site.ref = page.referrer;
  const regs = JSON.parse(JSON.stringify(ortb2.regs || {}));
  const user = {};
  const gdpr = userConsent && userConsent.gdpr;
  if (gdpr && gdpr.gdprApplies !== undefined) regs.gdpr = gdpr.gdprApplies ? 1 : 0;
  if (gdpr && gdpr.consentString) user.consent = gdpr.consentString;
  if (userConsent && userConsent.usp) regs.us_privacy = userConsent.usp;
  if (userConsent && userConsent.gpp && userConsent.gpp.gppString) {
    regs.gpp = userConsent.gpp.gppString;
    regs.gpp_sid = userConsent.gpp.applicableSections;
  }
  if (!user.consent && ortb2.user && ortb2.user.consent) user.consent = ortb2.user.consent;
  if (consentMode) regs.ext = Object.assign({}, regs.ext, { google_consent_mode: consentMode });
  const device = ortb2.device ? { ua: ortb2.device.ua, devicetype: ortb2.device.devicetype, geo: ortb2.device.geo } : {};
  return { site, device, user, regs };
}

/** Appends `data` entries from `fragment` to `target` without duplicating a provider+segtax entry. */
function mergeData(target, entries) {
  for (const entry of entries || []) {
    const same = target.find((d) => d.name === entry.name && d.ext && entry.ext && d.ext.segtax === entry.ext.segtax);
    if (same) {
      const ids = new Set(same.segment.map((s) => s.id));
      for (const s of entry.segment) if (!ids.has(s.id)) same.segment.push(s);
    } else {
      target.push(entry);
    }
  }
}

/** Merges personify's answer into an ortb2 object (Prebid's `ortb2Fragments.global`). */
export function mergeFragment(global, answer) {
  if (answer && answer.user && answer.user.data) {
    global.user = global.user || {};
    global.user.data = global.user.data || [];
    mergeData(global.user.data, answer.user.data);
  }
  if (answer && answer.site && answer.site.content && answer.site.content.data) {
    global.site = global.site || {};
    global.site.content = global.site.content || {};
    global.site.content.data = global.site.content.data || [];
    mergeData(global.site.content.data, answer.site.content.data);
  }
  return global;
}

export const personifySubmodule = {
  name: 'personify',
  gvlid: undefined,
  init(config) {
    return Boolean(config && config.params && config.params.endpoint);
  },
  /** Fails open: on error or timeout the auction goes ahead unchanged. */
  getBidRequestData(reqBidsConfigObj, callback, config, userConsent) {
    const params = (config && config.params) || {};
    const global = (reqBidsConfigObj.ortb2Fragments = reqBidsConfigObj.ortb2Fragments || {}).global =
      reqBidsConfigObj.ortb2Fragments.global || {};
    const page = typeof window !== 'undefined' ? { url: window.location.href, referrer: document.referrer } : null;
    const consentMode = typeof window !== 'undefined' ? consentModeOf(window.dataLayer) : null;
    const body = JSON.stringify(buildBidRequest(global, userConsent, page, consentMode));
    const controller = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let done = false;
    const finish = () => { if (!done) { done = true; callback(); } };
    const timer = setTimeout(() => { if (controller) controller.abort(); finish(); }, params.timeoutMs || 100);
    // In a page: no token (a token in a page is public; personify admits allowed origins instead) and
    // text/plain, so the call is a CORS simple request with no preflight. `token` is for server-side
    // Prebid setups only.
    const headers = params.token
      ? { 'Content-Type': 'application/json', Authorization: `Bearer ${params.token}` }
      : { 'Content-Type': 'text/plain' };
    fetch(params.endpoint, {
      method: 'POST',
      headers,
      credentials: 'omit',
      body,
      signal: controller ? controller.signal : undefined,
    })
      .then((res) => (res.ok ? res.json() : null))
      .then((answer) => { if (answer && !done) mergeFragment(global, answer); })
      .catch(() => {})
      .finally(() => { clearTimeout(timer); finish(); });
  },
};

export default personifySubmodule;
export { SEGTAX_AUDIENCE, SEGTAX_CONTENT };
