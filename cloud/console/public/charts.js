// @ts-check
// Charts with uPlot (served from this origin at /console/vendor/): small, no dependencies, canvas.

/** @typedef {typeof import('uplot')} UPlotCtor */

/** @type {Promise<UPlotCtor> | null} */
let loading = null;
const UPLOT_URL = '/console/vendor/uPlot.esm.js';

/** @returns {Promise<UPlotCtor>} */
function uPlot() {
  loading ??= import(UPLOT_URL).then((m) => /** @type {UPlotCtor} */ (m.default));
  return loading;
}

const COLORS = ['#1d4ed8', '#0a7a32', '#a86400', '#b00020'];

/**
 * A line chart of series over time, drawn into `host`; the chart records how many points it has.
 * @param {HTMLElement} host
 * @param {{ title: string, times: number[], series: Array<{ label: string, values: Array<number | null> }>, bars?: boolean }} spec
 */
export async function lineChart(host, spec) {
  const U = await uPlot();
  host.dataset.points = String(spec.times.length);
  const width = Math.max(320, Math.min(host.clientWidth || 560, 900));
  /** @type {any} */
  const data = [spec.times.map((t) => t / 1000), ...spec.series.map((s) => s.values)];
  new U(
    {
      title: spec.title,
      width,
      height: 220,
      series: [
        {},
        ...spec.series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          ...(spec.bars
            ? { paths: U.paths.bars?.({ size: [0.6, 40] }), fill: `${COLORS[i % COLORS.length]}55` }
            : {}),
        })),
      ],
    },
    data,
    host,
  );
}
