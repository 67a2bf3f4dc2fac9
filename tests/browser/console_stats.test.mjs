// The console's verdict arithmetic (console/stats.js), in node: the sample size against published
// values, and no number from a suppressed arm.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleSizePerArm, verdict } from '../../console/stats.js';

test('the two-proportion sample size matches the standard formula at 5% two-sided and 80% power', () => {
  // 10% → 11%: 14,751 per group (Fleiss' formula without continuity correction, as tabulated by
  // common A/B-test calculators); 5% → 5.5%: 31,234.
  assert.equal(sampleSizePerArm(0.1, 0.1), 14751);
  assert.equal(sampleSizePerArm(0.05, 0.1), 31234);
  assert.equal(sampleSizePerArm(0, 0.1), null, 'no conversions in the control: no estimate');
});

test('a verdict names how many more exposures per arm are needed, and nothing for a suppressed arm', () => {
  const control = { arm: 'holdout', exposures: 1000, conversions: 100, rate: 0.1, suppressed: false };
  const arm = { arm: 'b', exposures: 1200, conversions: 130, rate: 130 / 1200, lift: 0.083, p_value: 0.4, suppressed: false };
  const v = verdict(arm, control);
  assert.equal(v.needed, 14751 - 1000);
  assert.match(v.text, /^Not yet significant: about 13,751 more exposures per arm needed for a 10% relative lift at 80% power\.$/);
  const hidden = verdict({ arm: 'c', exposures: null, conversions: null, rate: null, lift: null, p_value: null, suppressed: true }, control);
  assert.doesNotMatch(hidden.text, /\d/);
  assert.equal(verdict(arm, { ...control, conversions: null, suppressed: true }).kind, 'suppressed');
});
