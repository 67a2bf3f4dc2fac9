// Overview: node health (public /healthz and /readyz), the rules in force, the consent log's newest
// signed checkpoint (public), and what the token's scopes add: the store and consent log
// (compliance), the rules' load time, salt age and store errors (ops).
import { ApiError, get, probe, text } from './api.js';
import { facts, h } from './dom.js';

/** The newest signed checkpoint (C2SP note: origin, size, base64 root), or null before the first. */
async function checkpoint() {
  let note;
  try {
    note = await text('/v1/consent/log/checkpoint', 'text/plain');
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
  const [origin, size, root] = note.split('\n');
  return { origin, size: Number(size), root };
}

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
  );
  const [loaded, cp] = await Promise.all([scopes.has('ops') ? get('/v1/admin/rules') : null, checkpoint()]);
  const rulesFacts = [
    ['Version', h('code', { id: 'rules-version' }, r.rules_version || 'unknown')],
    ['Loaded at', loaded ? h('time', { id: 'rules-loaded-at', datetime: loaded.loaded_at }, loaded.loaded_at) : 'shown to a token with the ops scope'],
    ['Segments', String(r.segments ?? '')],
    ['Slots', String(r.slots ?? '')],
  ];
  if (loaded) {
    rulesFacts.push(['Experiments', String(loaded.experiments)], ['Rule files', loaded.files.map((f) => f.name.split('/').pop()).join(', ')]);
    if (loaded.last_good) {
      rulesFacts.push(['Serving', h('strong', { class: 'error' }, `the last good set stored at ${loaded.last_good.saved_at}: the rules directory has ${loaded.last_good.dir_errors} error(s)`)]);
    }
  }
  root.append(
    h('h2', {}, 'Rules in force'),
    facts(rulesFacts, { id: 'rules-facts' }),
    h('h2', {}, 'Consent log checkpoint'),
    cp
      ? facts([
        ['Entries covered (tree size)', h('span', { id: 'checkpoint-size' }, String(cp.size))],
        ['Root hash', h('code', { id: 'checkpoint-root', class: 'token' }, cp.root)],
        ['Log', cp.origin],
      ], { id: 'checkpoint' })
      : h('p', { id: 'checkpoint', class: 'note' }, 'No checkpoint has been signed yet: the node signs one on its checkpoint interval once the log has entries.'),
    h('p', { class: 'note' }, 'The newest signed tree head of the consent log, as anyone can fetch it from /v1/consent/log/checkpoint; it names no time, only how many entries it covers.'),
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
