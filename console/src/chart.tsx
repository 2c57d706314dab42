/**
 * A time-series chart (uPlot on a canvas) with a text alternative. uPlot styles its elements
 * through the CSSOM (`el.style.width = …`), which the console's CSP (style-src 'self') allows; it
 * writes no `style` attribute strings and no HTML.
 *
 * The plot is built once per set of series (their labels) and given new data with setData; it
 * follows its container's width (ResizeObserver) and is destroyed on unmount.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  /** A fixed label (never an API value: it is shown in the legend and the text table). */
  readonly label: string;
  readonly color: string;
  /** How a value is written in the legend and the table (default: the number). */
  readonly format?: (value: number) => string;
  /** Draw every point: for series with gaps (a latency where only some buckets had requests), a lone value would otherwise not show. */
  readonly points?: boolean;
}

export interface ChartProps {
  /** The id of the heading that names the chart (aria-labelledby). */
  readonly labelledBy: string;
  /** A one-sentence summary for screen readers (the canvas itself says nothing). */
  readonly summary: string;
  /** Bucket starts, epoch seconds (uPlot's time scale). */
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  /** One array per series, as long as `times`; null where there is no value (a gap). */
  readonly values: readonly (readonly (number | null)[])[];
  /** How a bucket start is written in the text table. */
  readonly formatTime: (epochSeconds: number) => string;
  readonly height?: number;
  readonly children?: ComponentChildren;
}

const DEFAULT_HEIGHT = 240;
/** Below this the container is hidden or not laid out yet: keep the last width. */
const MIN_WIDTH = 50;

export function Chart({ labelledBy, summary, times, series, values, formatTime, height = DEFAULT_HEIGHT }: ChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const seriesKey = series.map((s) => s.label).join('\u0000');
  const data = (): uPlot.AlignedData => [times as number[], ...(values as (number | null)[][])];

  useEffect(() => {
    const el = container.current;
    if (!el) return undefined;
    const width = Math.max(el.clientWidth, MIN_WIDTH);
    const options: uPlot.Options = {
      width,
      height,
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          spanGaps: false,
          ...(s.points ? { points: { show: true, size: 6 } } : {}),
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : s.format ? s.format(v) : String(v)),
        })),
      ],
      axes: [{}, { size: 60 }],
      scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      cursor: { drag: { x: false, y: false } },
    };
    const chart = new uPlot(options, data(), el);
    plot.current = chart;
    const resize = new ResizeObserver(() => {
      const next = el.clientWidth;
      if (next >= MIN_WIDTH && next !== chart.width) chart.setSize({ width: next, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt only when the series change; new data goes through setData below.
  }, [seriesKey, height]);

  useEffect(() => {
    plot.current?.setData(data());
  }, [times, values]);

  return (
    <figure class="chart-figure" aria-labelledby={labelledBy}>
      <div class="chart" ref={container} role="img" aria-label={summary} />
      <details class="chart-data">
        <summary>Data table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Time</th>
              {series.map((s) => (
                <th scope="col" class="num" key={s.label}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {times.map((t, i) => (
              <tr key={t}>
                <th scope="row">{formatTime(t)}</th>
                {series.map((s, j) => {
                  const v = values[j]?.[i];
                  return (
                    <td class="num" key={s.label}>
                      {v === null || v === undefined ? '—' : s.format ? s.format(v) : String(v)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
