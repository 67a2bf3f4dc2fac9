// The console's words for a report's analysis (console/stats.js), in node: each verdict kind reads as
// the server's numbers say, a suppressed or unplanned experiment gets no invented number.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adjustmentName, methodName, ppInterval, progressWords, verdictWords } from '../../console/stats.js';

const base = { primary_goal: 'apply', planned_per_arm: 31234, progress: 0.25, days_left: 9.2 };

test('each verdict kind reads in plain words, with the numbers of the JSON', () => {
  assert.equal(verdictWords({ ...base, verdict: { kind: 'keep_running', more_per_arm: 23426 } }).title, 'Keep running: 23,426 more visitors per arm');
  const better = verdictWords({ ...base, verdict: { kind: 'better', arm: 'b', lift: 0.1234, interval: [0.0021, 0.0135] } });
  assert.equal(better.title, 'b is better by 12.3% (+0.21 to +1.35 pp)');
  const worse = verdictWords({ ...base, verdict: { kind: 'worse', arm: 'c', lift: -0.08, interval: [-0.02, -0.001] } });
  assert.equal(worse.title, 'c is worse by 8.0% (−2.00 to −0.10 pp)');
  assert.equal(verdictWords({ ...base, verdict: { kind: 'worse', arm: 'c', lift: null, interval: [-0.02, -0.001] } }).title, 'c is worse (−2.00 to −0.10 pp)');
  assert.equal(verdictWords({ ...base, verdict: { kind: 'no_difference' } }).title, 'No detectable difference');
  assert.equal(verdictWords({ ...base, verdict: { kind: 'inconclusive' } }).title, 'Inconclusive');
  assert.equal(verdictWords({ ...base, verdict: { kind: 'sample_ratio_mismatch' } }).title, 'Sample ratio mismatch — fix before reading');
  assert.equal(verdictWords({ ...base, verdict: { kind: 'something_new' } }).kind, 'unknown');
});

test('progress names the planned size and the days left, and nothing without a plan', () => {
  assert.equal(progressWords(base), '25% of the planned 31,234 visitors per arm; about 10 days left at the traffic so far.');
  assert.equal(progressWords({ ...base, days_left: null }), '25% of the planned 31,234 visitors per arm; days left unknown until traffic is seen.');
  assert.equal(progressWords({ ...base, progress: 1, days_left: 0 }), '100% of the planned 31,234 visitors per arm: reached.');
  assert.equal(progressWords({ ...base, planned_per_arm: null, progress: null }), null);
});

test('the test and the adjustment are named; intervals are signed percentage points', () => {
  assert.match(methodName('sequential'), /^Sequential test/);
  assert.match(methodName('fixed_horizon'), /^Fixed-horizon test/);
  assert.match(adjustmentName('holm'), /^Holm/);
  assert.match(adjustmentName('benjamini_hochberg'), /^Benjamini–Hochberg/);
  assert.equal(ppInterval([-0.0005, 0.0049]), '−0.05 to +0.49 pp');
});
