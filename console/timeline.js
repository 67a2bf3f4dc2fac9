// Exposures over time, drawn as SVG: one line per arm of the daily distinct visitors exposed. A day
// whose count is below k has no point and breaks the line; the table beside it says "fewer than k".
import { h, s, table } from './dom.js';

const W = 720;
const H = 220;
const LEFT = 56;
const RIGHT = 190;
const TOP = 16;
const BOTTOM = 40;
const COLOURS = ['#0b5cad', '#b35900', '#1d6b32', '#6f3fa0', '#a4161a'];
const fmt = new Intl.NumberFormat('en');

function niceMax(v) {
  if (v <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * step).find((x) => x >= v);
}

/**
 * The chart and its table: `days` are YYYY-MM-DD, `arms` the arm labels, `series[arm][i]` the released
 * exposures of that arm on day i, or null when suppressed.
 */
export function exposuresOverTime(id, days, arms, series) {
  const values = arms.flatMap((a) => series[a].filter((v) => v !== null));
  const top = niceMax(Math.max(0, ...values));
  const x = (i) => LEFT + (days.length === 1 ? 0.5 : i / (days.length - 1)) * (W - LEFT - RIGHT);
  const y = (v) => TOP + (1 - v / top) * (H - TOP - BOTTOM);
  const svg = s('svg', { id, class: 'timeline', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-labelledby': `${id}-title`, 'data-max': top });
  svg.append(s('title', { id: `${id}-title` }, 'Distinct visitors exposed per day, per arm'));
  for (const t of [0, top / 2, top]) {
    svg.append(
      s('line', { class: 'grid', x1: LEFT, x2: W - RIGHT, y1: y(t), y2: y(t) }),
      s('text', { class: 'tick', x: LEFT - 6, y: y(t) + 4, 'text-anchor': 'end' }, fmt.format(t)),
    );
  }
  const every = Math.max(1, Math.ceil(days.length / 7));
  days.forEach((d, i) => {
    if (i % every === 0 || i === days.length - 1) svg.append(s('text', { class: 'tick', x: x(i), y: H - BOTTOM + 16, 'text-anchor': 'middle' }, d.slice(5)));
  });
  arms.forEach((arm, k) => {
    const colour = COLOURS[k % COLOURS.length];
    const g = s('g', { class: 'series', 'data-arm': arm });
    // Consecutive released days are joined; a suppressed day breaks the line.
    let run = [];
    const flush = () => {
      if (run.length > 1) g.append(s('polyline', { class: 'trend', stroke: colour, points: run.map(([i, v]) => `${x(i)},${y(v)}`).join(' ') }));
      run = [];
    };
    series[arm].forEach((v, i) => {
      if (v === null) return flush();
      run.push([i, v]);
      g.append(s('circle', { class: 'point', fill: colour, cx: x(i), cy: y(v), r: 4, 'data-day': days[i], 'data-value': v }));
    });
    flush();
    g.append(
      s('rect', { x: W - RIGHT + 12, y: TOP + k * 18, width: 10, height: 10, fill: colour }),
      s('text', { class: 'legend', x: W - RIGHT + 28, y: TOP + k * 18 + 9 }, arm),
    );
    svg.append(g);
  });
  const rows = days.map((d, i) => [d, ...arms.map((a) => (series[a][i] === null ? h('span', { class: 'suppressed' }, 'fewer than k') : fmt.format(series[a][i])))]);
  const t = table('Distinct visitors exposed per day', ['Day (UTC)', ...arms], rows, { class: 'daily' });
  return h('div', { class: 'over-time' }, svg, h('details', {}, h('summary', {}, 'Daily numbers'), t));
}
