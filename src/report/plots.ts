/**
 * Line plots as SVG, drawn by vega-lite / vega in Node (no browser, no
 * canvas: vega's headless renderer). vega loads on the first plot only, so
 * training start-up and `--help` never pay for it.
 */

export interface Point {
  step: number;
  value: number;
}

export interface SeriesPlot {
  title: string;
  subtitle?: string;
  /** Every point (thinned here for drawing). */
  raw: readonly Point[];
  /** Drawn over the raw line, darker. */
  smoothed?: readonly Point[];
  yTitle?: string;
}

/** Points drawn per line at most: more are thinned evenly (the last is always kept). */
export const MAX_POINTS_PER_LINE = 1500;

/**
 * Exponential moving average over about `span` points, debiased at the
 * start (as TensorBoard's smoothing), so early values are not pulled to 0.
 */
export function emaSmooth(values: readonly number[], span: number): number[] {
  const alpha = 2 / (Math.max(1, span) + 1);
  const out: number[] = [];
  let average = 0;
  let weight = 0;
  for (const value of values) {
    average = (1 - alpha) * average + alpha * value;
    weight = (1 - alpha) * weight + alpha;
    out.push(average / weight);
  }
  return out;
}

/** At most `max` items, evenly spaced, keeping the first and the last. */
export function thin<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.round((i * (items.length - 1)) / (max - 1))]!);
  return out;
}

/** The value at quantile q of `values` (sorted copy, nearest rank). */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
}

/**
 * The y range: every smoothed value and the raw values between their 1st
 * and 99th percentiles, so one early spike does not flatten the curve
 * (raw points outside are clipped at the plot's edge).
 */
function yDomain(plot: SeriesPlot): [number, number] {
  const raw = plot.raw.map((point) => point.value);
  const inside = [quantile(raw, 0.01), quantile(raw, 0.99), ...(plot.smoothed ?? []).map((point) => point.value)];
  let low = Math.min(...inside);
  let high = Math.max(...inside);
  if (high - low < 1e-12) {
    const pad = Math.abs(high) * 0.05 || 1;
    low -= pad;
    high += pad;
  }
  const margin = (high - low) * 0.04;
  return [low - margin, high + margin];
}

// Both are ES modules: loaded with import() from this CommonJS build.
type Vega = typeof import('vega', { with: { 'resolution-mode': 'import' } });
type VegaLite = typeof import('vega-lite', { with: { 'resolution-mode': 'import' } });
let libraries: Promise<{ vega: Vega; vegaLite: VegaLite }> | undefined;

function loadLibraries(): Promise<{ vega: Vega; vegaLite: VegaLite }> {
  libraries ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vegaLite]) => ({ vega, vegaLite }));
  return libraries;
}

const RAW_COLOUR = '#9ecae1';
const SMOOTHED_COLOUR = '#08519c';

/** One plot as an SVG document string. */
export async function renderSeriesPlot(plot: SeriesPlot, size: { width: number; height: number } = { width: 340, height: 140 }): Promise<string> {
  const { vega, vegaLite } = await loadLibraries();
  const [low, high] = yDomain(plot);
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1, format: '~s' } } as const;
  const y = { field: 'value', type: 'quantitative', title: plot.yTitle ?? null, scale: { domain: [low, high], zero: false, nice: false }, axis: { format: '~g', tickCount: 5 } } as const;
  const layer: object[] = [
    // Without a smoothed line, the raw one is the curve to read: dark.
    { data: { values: thin(plot.raw, MAX_POINTS_PER_LINE) }, mark: { type: 'line', color: plot.smoothed ? RAW_COLOUR : SMOOTHED_COLOUR, strokeWidth: plot.smoothed ? 1 : 1.5, clip: true, point: plot.raw.length === 1 }, encoding: { x, y } },
  ];
  if (plot.smoothed) {
    layer.push({ data: { values: thin(plot.smoothed, MAX_POINTS_PER_LINE) }, mark: { type: 'line', color: SMOOTHED_COLOUR, strokeWidth: 2, clip: true }, encoding: { x, y } });
  }
  const spec = {
    width: size.width,
    height: size.height,
    background: 'white',
    padding: 6,
    title: { text: plot.title, subtitle: plot.subtitle ?? '', anchor: 'start', fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555' },
    config: { font: 'sans-serif', axis: { labelFontSize: 10, titleFontSize: 10, grid: true, gridColor: '#eee' }, view: { stroke: '#ccc' } },
    layer,
  };
  const compiled = vegaLite.compile(spec as Parameters<VegaLite['compile']>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
