// A forest plot drawn as SVG: for one goal, each arm's difference in conversion rate against the
// control with the adjusted interval the verdict reads, on one axis with a line at zero. Drawn from
// the report's numbers as they are; an arm whose numbers are suppressed gets a row that says so and
// no mark.
import { s } from './dom.js';

const W = 640;
const ROW = 36;
const LEFT = 150;
const RIGHT = 40;
const TOP = 24;
const AXIS = 40;

function ticks(min, max) {
  const span = max - min;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((st) => span / st <= 6) || step * 10;
  const out = [];
  for (let t = Math.ceil(min / nice) * nice; t <= max + 1e-12; t += nice) out.push(Number(t.toFixed(10)));
  return out;
}

/**
 * The plot for `rows` (`{arm, diff, interval}` of the non-control arms on `goal`, `interval` null
 * while suppressed); `control` names the control arm.
 */
export function forestPlot(id, rows, control, goal) {
  const shown = rows.filter((r) => Array.isArray(r.interval));
  let lo = Math.min(0, ...shown.map((r) => r.interval[0]));
  let hi = Math.max(0, ...shown.map((r) => r.interval[1]));
  if (hi - lo < 1e-6) {
    lo -= 0.01;
    hi += 0.01;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (v) => LEFT + ((v - lo) / (hi - lo)) * (W - LEFT - RIGHT);
  const height = TOP + rows.length * ROW + AXIS;
  const title = `${goal}: difference in conversion rate against ${control}, with the adjusted intervals`;
  const svg = s('svg', {
    id, class: 'forest', viewBox: `0 0 ${W} ${height}`, width: W, height, role: 'img', 'aria-labelledby': `${id}-title`,
    'data-goal': goal, 'data-domain-min': lo, 'data-domain-max': hi, 'data-plot-left': LEFT, 'data-plot-right': W - RIGHT,
  });
  svg.append(s('title', { id: `${id}-title` }, title));
  const bottom = TOP + rows.length * ROW;
  for (const t of ticks(lo, hi)) {
    svg.append(
      s('line', { class: 'grid', x1: x(t), x2: x(t), y1: TOP - 8, y2: bottom }),
      s('text', { class: 'tick', x: x(t), y: bottom + 16, 'text-anchor': 'middle' }, `${(t * 100).toFixed(Math.abs(t) < 0.01 && t !== 0 ? 2 : 1)}`),
    );
  }
  svg.append(
    s('line', { class: 'zero', x1: x(0), x2: x(0), y1: TOP - 8, y2: bottom }),
    s('text', { class: 'axis-label', x: (LEFT + W - RIGHT) / 2, y: bottom + 34, 'text-anchor': 'middle' }, `percentage points against ${control}`),
  );
  rows.forEach((r, i) => {
    const y = TOP + i * ROW + ROW / 2;
    const g = s('g', { class: 'arm', 'data-arm': r.arm });
    g.append(s('text', { class: 'arm-label', x: LEFT - 10, y: y + 4, 'text-anchor': 'end' }, r.arm));
    if (Array.isArray(r.interval)) {
      const [low, high] = r.interval;
      // The estimate is the observed difference; the sequential interval need not be centred on it.
      const mid = typeof r.diff === 'number' ? r.diff : (low + high) / 2;
      g.setAttribute('data-low', low);
      g.setAttribute('data-high', high);
      g.append(
        s('line', { class: 'interval', x1: x(low), x2: x(high), y1: y, y2: y }),
        s('line', { class: 'whisker', x1: x(low), x2: x(low), y1: y - 6, y2: y + 6 }),
        s('line', { class: 'whisker', x1: x(high), x2: x(high), y1: y - 6, y2: y + 6 }),
        s('rect', { class: 'estimate', x: x(mid) - 5, y: y - 5, width: 10, height: 10, 'data-diff': mid }),
      );
    } else {
      g.setAttribute('data-suppressed', 'true');
      g.append(s('text', { class: 'suppressed-label', x: LEFT + 8, y: y + 4 }, 'fewer than k: not shown'));
    }
    svg.append(g);
  });
  return svg;
}
