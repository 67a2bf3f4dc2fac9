// What an experiment report's analysis says, in words. The server computes every number (the test,
// the adjustment, the planned size and the verdict); this module only phrases them, and never
// derives a number from a suppressed count.

const fmt = new Intl.NumberFormat('en');

/** A difference in rates as signed percentage points, two decimals. */
export function pp(x) {
  return `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(2)}`;
}

/** An interval of a difference in rates, in percentage points. */
export function ppInterval([low, high]) {
  return `${pp(low)} to ${pp(high)} pp`;
}

/** A relative lift as a signed percentage, one decimal. */
export function liftPct(x) {
  return `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(1)}%`;
}

const METHODS = {
  sequential: 'Sequential test (always valid: the report may be read every day)',
  fixed_horizon: 'Fixed-horizon test (valid only when read once, at the planned size)',
};
const ADJUSTMENTS = {
  holm: 'Holm (the chance of any false positive over every arm and goal)',
  benjamini_hochberg: 'Benjamini–Hochberg (the expected share of false positives over every arm and goal)',
};

/** The test a report used, named. */
export function methodName(method) {
  return METHODS[method] || String(method);
}

/** The multiple-comparison adjustment a report used, named. */
export function adjustmentName(adjustment) {
  return ADJUSTMENTS[adjustment] || String(adjustment);
}

/**
 * The verdict of `analysis` (the report's `analysis` object) as `{kind, title, text}`: the title is
 * what a reader acts on, the text says why.
 */
export function verdictWords(analysis) {
  const v = analysis.verdict || {};
  const goal = analysis.primary_goal ? ` on ${analysis.primary_goal}` : '';
  switch (v.kind) {
    case 'keep_running':
      return {
        kind: v.kind,
        title: `Keep running: ${fmt.format(v.more_per_arm)} more visitors per arm`,
        text: `No arm differs from the control${goal} yet; the planned size is ${fmt.format(analysis.planned_per_arm)} visitors per arm.`,
      };
    case 'better':
    case 'worse': {
      const by = v.lift === null || v.lift === undefined ? '' : ` by ${(Math.abs(v.lift) * 100).toFixed(1)}%`;
      return {
        kind: v.kind,
        title: `${v.arm} is ${v.kind}${by} (${ppInterval(v.interval)})`,
        text: `The adjusted interval of the difference${goal} lies wholly ${v.kind === 'better' ? 'above' : 'below'} zero.`,
      };
    }
    case 'no_difference':
      return {
        kind: v.kind,
        title: 'No detectable difference',
        text: `The planned size is reached and every arm's adjusted interval${goal} lies within the planned effect of the control.`,
      };
    case 'inconclusive':
      return {
        kind: v.kind,
        title: 'Inconclusive',
        text: analysis.planned_per_arm === null
          ? `No arm differs from the control${goal}, and no planned size can be computed (no plan, or no released conversions in the control).`
          : `The planned size is reached, yet no arm differs from the control${goal} and the intervals are too wide to rule out the planned effect.`,
      };
    case 'sample_ratio_mismatch':
      return {
        kind: v.kind,
        title: 'Sample ratio mismatch — fix before reading',
        text: 'The exposures do not follow the configured split, so no other verdict is read from this period.',
      };
    default:
      return { kind: 'unknown', title: 'No verdict', text: 'The report carries no verdict.' };
  }
}

/**
 * Progress toward the planned size in words (`null` without a planned size): the smallest arm's
 * released exposures against `planned_per_arm`, and the days left at the traffic so far.
 */
export function progressWords(analysis) {
  if (analysis.planned_per_arm === null || analysis.progress === null) return null;
  const share = `${Math.floor(analysis.progress * 100)}%`;
  const planned = fmt.format(analysis.planned_per_arm);
  if (analysis.progress >= 1) return `${share} of the planned ${planned} visitors per arm: reached.`;
  const days = analysis.days_left;
  const left = days === null || days === undefined
    ? 'days left unknown until traffic is seen'
    : `about ${fmt.format(Math.ceil(days))} ${Math.ceil(days) === 1 ? 'day' : 'days'} left at the traffic so far`;
  return `${share} of the planned ${planned} visitors per arm; ${left}.`;
}
