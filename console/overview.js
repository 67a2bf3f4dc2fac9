// Overview: node health (public /healthz and /readyz), the rules in force, and what the token's
// scopes add: the store and consent log (compliance), salt age and store errors (ops).
import { get, probe, text } from './api.js';
import { facts, h } from './dom.js';

/** A Prometheus text exposition's unlabelled samples, by metric name. */
function samples(exposition) {
  const out = new Map();
  for (const line of exposition.split('\n')) {
    const m = /^([a-z_]+) ([0-9.eE+-]+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

function hours(h0) {
  return h0 === null || h0 === undefined ? 'none held' : `${h0} h`;
}

export async function overview(root, { scopes }) {
  root.append(h('h1', {}, 'Overview'));
  const [live, ready] = await Promise.all([probe('/healthz'), probe('/readyz')]);
  const r = ready.body || {};
  root.append(
    h('h2', {}, 'Node health'),
    facts([
      ['Liveness (/healthz)', live.status === 200 ? 'up' : `answered ${live.status}`],
      ['Readiness (/readyz)', r.status === 'ready' ? 'ready' : `${r.status || 'unknown'} (${ready.status})`],
      ['Store', r.store === 'ok' ? 'answers' : 'unavailable: consent writes fail until it is back'],
    ], { id: 'health' }),
    h('h2', {}, 'Rules in force'),
    facts([
      ['Version', h('code', { id: 'rules-version' }, r.rules_version || 'unknown')],
      ['Segments', String(r.segments ?? '')],
      ['Slots', String(r.slots ?? '')],
    ]),
  );
  if (scopes.has('compliance')) {
    const rec = await get('/v1/admin/compliance');
    root.append(
      h('h2', {}, 'Store and consent log'),
      facts([
        ['Store kind', h('span', { id: 'store-kind' }, rec.store)],
        ['Consent log entries', h('span', { id: 'log-entries' }, String(rec.consent.log_entries))],
        ['Visitors with a current record', String(rec.consent.current_records)],
        ['Of which opted out', String(rec.consent.opt_outs)],
        ['Daily salts held', `${rec.salts.held} (oldest ${hours(rec.salts.oldest_age_hours)})`],
        ['Release threshold', `k = ${rec.release.k}, ε = ${rec.release.epsilon}`],
      ]),
      h('p', {}, 'Verify the consent log and export it on the ', h('a', { href: '#/compliance' }, 'Compliance'), ' page.'),
    );
  }
  if (scopes.has('ops')) {
    const m = samples(await text('/metrics', 'text/plain'));
    const value = (name) => (m.has(name) ? String(m.get(name)) : 'not reported');
    const salt = m.get('personify_salt_age_seconds');
    root.append(
      h('h2', {}, 'Operations (/metrics)'),
      facts([
        ['Oldest salt', salt === undefined ? 'not reported' : `${Math.floor(salt / 3600)} h (alert above 48 h)`],
        ['Store errors', value('personify_store_errors_total')],
        ['Salt purge failures', value('personify_salt_purge_failures_total')],
        ['Requests refused by a rate limit', value('personify_rate_limited_total')],
        ['Segments released to RTB', value('personify_rtb_release_set_segments')],
      ], { id: 'ops' }),
    );
  }
}
