import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'react';
import { ChartCanvas } from './ChartCanvas';
import { compact, PALETTE } from './scale';

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
  /** drawn dashed (e.g. the run compared with) */
  dashed?: boolean;
  /** a tooltip note after the value (e.g. the formula of the figure) */
  note?: string;
  /** palette index (default: the series' position): the same figure of two runs, one colour */
  color?: number;
}

interface Props {
  series: LineSeries[];
  title: string;
  yLabel?: string;
  xLabel?: string;
  formatX?: (x: number) => string;
  /** a logarithmic x axis (concurrency 1, 4, 16, 64) */
  xLog?: boolean;
  height?: number;
}

const byTime = (x: number) => new Date(x).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit' });

/** Multi-series line chart (x numeric: time in ms unless `formatX` says otherwise). */
export function LineChart({ series, title, yLabel, xLabel, formatX, xLog, height = 220 }: Props) {
  const fx = formatX ?? byTime;
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'line',
      data: {
        datasets: series.map((s, i) => ({
          label: s.name,
          data: [...s.points].sort((a, b) => a.x - b.x),
          borderColor: PALETTE[(s.color ?? i) % PALETTE.length],
          backgroundColor: PALETTE[(s.color ?? i) % PALETTE.length],
          borderDash: s.dashed ? [6, 4] : undefined,
          pointRadius: 3,
          borderWidth: 2,
        })),
      },
      options: {
        parsing: false,
        scales: {
          x: {
            type: xLog ? 'logarithmic' : 'linear',
            title: { display: Boolean(xLabel), text: xLabel ?? '' },
            ticks: { callback: (value) => fx(Number(value)), maxTicksLimit: 6 },
            // On a log axis (concurrency 1, 4, 16...) a tick at each measured level reads best.
            afterBuildTicks: xLog
              ? (axis) => {
                  const xs = new Set(series.flatMap((s) => s.points.map((p) => p.x)));
                  axis.ticks = [...xs].sort((a, b) => a - b).map((value) => ({ value }));
                }
              : undefined,
          },
          y: {
            beginAtZero: true,
            title: { display: Boolean(yLabel), text: yLabel ?? '' },
            ticks: { callback: (value) => compact(Number(value)) },
          },
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? fx(Number(items[0].parsed.x)) : ''),
              label: (item) => {
                const note = series[item.datasetIndex]?.note;
                return `${item.dataset.label}: ${compact(Number(item.parsed.y))}${note ? ` (${note})` : ''}`;
              },
            },
          },
        },
      },
    }),
    [series, xLabel, yLabel, xLog, fx],
  );
  if (!series.some((s) => s.points.length)) return <p className="muted">No data for this range.</p>;
  // The series are named in the accessible label too (the legend is drawn on the canvas).
  const label = `${title}. Series: ${series.map((s) => s.name).join('; ')}`;
  return <ChartCanvas config={config} title={label} height={height} />;
}
