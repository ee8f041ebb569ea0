// One Chart.js chart on a canvas, rebuilt when its config changes and destroyed on unmount.
// Chart.js (not hand-drawn SVG): tooltips, legends, linear/log/category axes and bars and lines
// from one well-kept library; only the parts used are registered, to keep the bundle small.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'react';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
);

interface Props {
  config: ChartConfiguration;
  title: string;
  height?: number;
}

export function ChartCanvas({ config, title, height = 220 }: Props) {
  const canvas = useRef<HTMLCanvasElement | null>(null);
  useEffect(() => {
    const element = canvas.current;
    // jsdom (unit tests) has no 2D context: the chart is then only its accessible label.
    if (!element || !element.getContext?.('2d')) return undefined;
    const chart = new Chart(element, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
    });
    return () => chart.destroy();
  }, [config]);
  return (
    <figure className="chart" style={{ height }}>
      <canvas ref={canvas} role="img" aria-label={title}>
        {title}
      </canvas>
    </figure>
  );
}
