// The Prebid RTD provider against the real personify binary (built by `cargo test`/`cargo build`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { personifySubmodule, mergeFragment, buildBidRequest, consentModeOf } from '../personifyRtdProvider.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'prebid-test-token-0123456789abcdef'; // tokens are at least 32 characters
let server;
let base;
let dataDir;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'personify-prebid-'));
  server = spawn(join(root, 'target', 'debug', 'personify'), ['--config', join(root, 'config'), 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      PERSONIFY__SERVER__PORT: '0',
      PERSONIFY__SERVER__WORKERS: '1',
      PERSONIFY__STORE__URL: `sqlite://${dataDir}/p.db`,
      PERSONIFY__CONSENT__LOG_KEY_FILE: `${dataDir}.log.key`,
      PERSONIFY__CONSENT__CHECKPOINT_DIR: '',
      // k counts distinct networks too, and every request here comes from loopback: one network.
      PERSONIFY__PRIVACY__K: '1',
      PERSONIFY__COUNTS__FLUSH_SECONDS: '1',
      PERSONIFY__COUNTS__RELEASE_REFRESH_SECONDS: '1',
      PERSONIFY_ADMIN_TOKEN: TOKEN,
    },
  });
  base = await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 15000);
    const onData = (chunk) => {
      log += chunk;
      const m = log.match(/personify listening port=(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
  // Two consenting US visitors on a mortgage page put mortgage_intent at or above k = 1.
  for (const id of ['0b7e2a4c-5d1f-4e8a-9c3b-6f2d1a0e9b47', '9d3c5e71-2b8a-4f06-8e1d-c4a7b5f2e093']) {
    const res = await fetch(`${base}/v1/decide`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-IPCountry': 'US' },
      body: JSON.stringify({ page: { url: 'https://bank.example/mortgages/fixed-rate' }, visitor_id: id }),
    });
    assert.equal(res.status, 200);
  }
  await new Promise((r) => setTimeout(r, 2500));
});

after(() => {
  if (server) server.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function auction(page, geo = 'USA') {
  return {
    ortb2Fragments: {
      global: {
        site: { page, domain: 'bank.example' },
        device: { ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36', geo: { country: geo } },
        user: { data: [{ name: 'other.example', ext: { segtax: 4 }, segment: [{ id: '1' }] }] },
      },
    },
  };
}

function run(req, userConsent, params = {}) {
  const config = { params: { endpoint: `${base}/v1/rtb/segments`, token: TOKEN, timeoutMs: 2000, ...params } };
  assert.equal(personifySubmodule.init(config), true);
  return new Promise((resolve) => personifySubmodule.getBidRequestData(req, () => resolve(req), config, userConsent));
}

test('merges released buckets into ortb2Fragments.global and keeps what was there', async () => {
  const req = await run(auction('https://bank.example/mortgages/fixed-rate'), {});
  const data = req.ortb2Fragments.global.user.data;
  assert.deepEqual(data[0], { name: 'other.example', ext: { segtax: 4 }, segment: [{ id: '1' }] });
  assert.deepEqual(data[1], { name: 'personify.bank.example', ext: { segtax: 4 }, segment: [{ id: '1394' }] });
  assert.deepEqual(req.ortb2Fragments.global.site.content.data, [{ name: 'personify.bank.example', ext: { segtax: 7 }, segment: [{ id: '407' }] }]);
});

test('sends the consent Prebid holds: a US opt-out releases nothing', async () => {
  const req = await run(auction('https://bank.example/mortgages/fixed-rate'), { usp: '1YYN' });
  assert.equal(req.ortb2Fragments.global.user.data.length, 1);
  assert.equal(req.ortb2Fragments.global.site.content, undefined);
});

test('GDPR without a TC string releases nothing', async () => {
  const req = await run(auction('https://bank.example/mortgages/fixed-rate', 'DEU'), { gdpr: { gdprApplies: true } });
  assert.equal(req.ortb2Fragments.global.user.data.length, 1);
});

test('fails open when personify is unreachable', async () => {
  const req = await run(auction('https://bank.example/mortgages/fixed-rate'), {}, { endpoint: 'http://127.0.0.1:9/v1/rtb/segments', timeoutMs: 300 });
  assert.equal(req.ortb2Fragments.global.user.data.length, 1);
});

test('mergeFragment does not duplicate a provider entry', () => {
  const global = {};
  const answer = { user: { data: [{ name: 'p', ext: { segtax: 4 }, segment: [{ id: '1' }] }] } };
  mergeFragment(global, answer);
  mergeFragment(global, { user: { data: [{ name: 'p', ext: { segtax: 4 }, segment: [{ id: '1' }, { id: '2' }] }] } });
  assert.deepEqual(global.user.data, [{ name: 'p', ext: { segtax: 4 }, segment: [{ id: '1' }, { id: '2' }] }]);
  const body = buildBidRequest({ site: { page: 'https://x.example/' } }, { gdpr: { gdprApplies: true, consentString: 'CQ' }, gpp: { gppString: 'DBABTA~1YNN', applicableSections: [6] } }, null);
  assert.deepEqual(body.regs, { gdpr: 1, gpp: 'DBABTA~1YNN', gpp_sid: [6] });
  assert.equal(body.user.consent, 'CQ');
});

test('Google Consent Mode from the page\'s dataLayer: ad_user_data "denied" releases nothing', async () => {
  // The page as gtag leaves it: `dataLayer.push(arguments)`.
  const gtag = function () { return arguments; };
  const dataLayer = [gtag('consent', 'default', { ad_user_data: 'granted', ad_storage: 'granted' }), gtag('js', new Date()),
    gtag('consent', 'update', { ad_user_data: 'denied' })];
  globalThis.window = { location: { href: 'https://bank.example/mortgages/fixed-rate' }, dataLayer };
  globalThis.document = { referrer: '' };
  try {
    const req = await run(auction('https://bank.example/mortgages/fixed-rate'), {});
    assert.equal(req.ortb2Fragments.global.user.data.length, 1);
    assert.equal(req.ortb2Fragments.global.site.content, undefined);
    // Everything granted changes nothing: the buckets are released as without Consent Mode.
    dataLayer.push(gtag('consent', 'update', { ad_user_data: 'granted', ad_personalization: 'granted' }));
    const granted = await run(auction('https://bank.example/mortgages/fixed-rate'), {});
    assert.equal(granted.ortb2Fragments.global.user.data.length, 2);
  } finally {
    delete globalThis.window;
    delete globalThis.document;
  }
  assert.deepEqual(consentModeOf([gtag('consent', 'default', { ad_personalization: 'granted', ad_user_data: 'denied', region: ['US'] })]), { ad_user_data: 'denied' });
  assert.equal(consentModeOf(undefined), null);
  const body = buildBidRequest({ regs: { ext: { gpc: '1' } } }, {}, null, { ad_user_data: 'denied' });
  assert.deepEqual(body.regs, { ext: { gpc: '1', google_consent_mode: { ad_user_data: 'denied' } } });
});
