import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'react';
import { ChartCanvas } from './ChartCanvas';
import { PALETTE, withUnit } from './scale';

export interface BarSeries {
  name: string;
  values: (number | null)[];
}

interface Props {
  categories: string[];
  series: BarSeries[];
  title: string;
  unit?: string;
  height?: number;
}

/** Grouped vertical bars, one group per category. */
export function BarChart({ categories, series, title, unit = '', height = 220 }: Props) {
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'bar',
      data: {
        labels: categories,
        datasets: series.map((s, i) => ({
          label: s.name,
          data: s.values,
          backgroundColor: PALETTE[i % PALETTE.length],
          maxBarThickness: 28,
        })),
      },
      options: {
        scales: { y: { beginAtZero: true, ticks: { callback: (value) => withUnit(Number(value), unit) } } },
        plugins: {
          tooltip: {
            callbacks: { label: (item) => `${item.dataset.label}: ${withUnit(Number(item.parsed.y), unit)}` },
          },
        },
      },
    }),
    [categories, series, unit],
  );
  if (!categories.length) return <p className="muted">No data for this range.</p>;
  return <ChartCanvas config={config} title={title} height={height} />;
}
