// What an experiment's released numbers say, in words. Everything here is computed from the report's
// released (k-anonymous) numbers only; a suppressed input yields no number at all.

const Z_ALPHA = 1.959964; // two-sided 5%
const Z_BETA = 0.841621; // 80% power

/**
 * Exposures per arm a two-proportion z-test needs to detect a relative lift `rel` over a control rate
 * `p0` (standard formula, pooled variance under the null): `null` when `p0` is 0 or 1.
 */
export function sampleSizePerArm(p0, rel = 0.1) {
  const p1 = p0 * (1 + rel);
  if (!(p0 > 0 && p0 < 1) || !(p1 > 0 && p1 < 1)) return null;
  const pBar = (p0 + p1) / 2;
  const a = Z_ALPHA * Math.sqrt(2 * pBar * (1 - pBar));
  const b = Z_BETA * Math.sqrt(p0 * (1 - p0) + p1 * (1 - p1));
  return Math.ceil(((a + b) ** 2) / ((p1 - p0) ** 2));
}

/** Whether a row's numbers were released (not below k, not derived from a suppressed count). */
export function released(row) {
  return row && !row.suppressed && row.exposures !== null && row.conversions !== null;
}

const fmt = new Intl.NumberFormat('en');

/** The plain-language verdict for `arm` against `control` (both rows of the report). */
export function verdict(arm, control) {
  if (!released(arm) || !released(control)) {
    return { kind: 'suppressed', text: 'Fewer than k visitors behind this arm or its control: nothing is derived from them yet.' };
  }
  if (arm.p_value !== null && arm.p_value < 0.05 && arm.lift !== null) {
    const better = arm.lift > 0 ? 'better' : 'worse';
    return { kind: 'significant', text: `Significant at the 5% level: ${arm.arm} converts ${better} than ${control.arm} (relative lift ${(arm.lift * 100).toFixed(1)}%, p = ${arm.p_value.toPrecision(2)}).` };
  }
  const needed = sampleSizePerArm(control.rate, 0.1);
  if (needed === null) {
    return { kind: 'unknown', text: `Not yet significant: ${control.arm} has no conversions yet, so the exposures needed cannot be estimated.` };
  }
  const more = needed - Math.min(arm.exposures, control.exposures);
  if (more <= 0) {
    return { kind: 'powered', text: 'Not significant, with enough exposures to detect a 10% relative lift at 80% power: a lift that large is unlikely.' };
  }
  return { kind: 'underpowered', needed: more, text: `Not yet significant: about ${fmt.format(more)} more exposures per arm needed for a 10% relative lift at 80% power.` };
}
