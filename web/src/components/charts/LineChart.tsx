import { compact, niceTicks, PALETTE } from './scale';

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

interface Props {
  series: LineSeries[];
  title: string;
  yLabel?: string;
  formatX?: (x: number) => string;
  height?: number;
}

const W = 640;
const PAD = { top: 12, right: 16, bottom: 28, left: 52 };

/** Multi-series line chart in plain SVG (x: time in ms). */
export function LineChart({ series, title, yLabel, formatX, height = 220 }: Props) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return <p className="muted">No data for this range.</p>;
  const xs = all.map((p) => p.x);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMin === xMax) {
    xMin -= 1800_000;
    xMax += 1800_000;
  }
  const ticks = niceTicks(Math.max(...all.map((p) => p.y)));
  const yMax = ticks[ticks.length - 1] || 1;
  const H = height;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + ((x - xMin) / (xMax - xMin)) * iw;
  const sy = (y: number) => PAD.top + ih - (y / yMax) * ih;
  const fx = formatX ?? ((x: number) => new Date(x).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit' }));
  const xTicks = [xMin, xMin + (xMax - xMin) / 2, xMax];

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="xMidYMid meet">
        <title>{title}</title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} className="grid" />
            <text x={PAD.left - 6} y={sy(t)} className="axis" textAnchor="end" dominantBaseline="middle">
              {compact(t)}
            </text>
          </g>
        ))}
        {xTicks.map((t, i) => (
          <text key={i} x={sx(t)} y={H - 8} className="axis" textAnchor={i === 0 ? 'start' : i === 2 ? 'end' : 'middle'}>
            {fx(t)}
          </text>
        ))}
        {yLabel && (
          <text x={12} y={PAD.top + ih / 2} className="axis" textAnchor="middle" transform={`rotate(-90 12 ${PAD.top + ih / 2})`}>
            {yLabel}
          </text>
        )}
        {series.map((s, si) => {
          const pts = [...s.points].sort((a, b) => a.x - b.x);
          const color = PALETTE[si % PALETTE.length];
          const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
          return (
            <g key={s.name}>
              <path d={d} fill="none" stroke={color} strokeWidth={2} />
              {pts.map((p, i) => (
                <circle key={i} cx={sx(p.x)} cy={sy(p.y)} r={3} fill={color}>
                  <title>{`${s.name} · ${fx(p.x)} · ${compact(p.y)}`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {series.map((s, si) => (
          <span key={s.name} className="legend-item">
            <span className="swatch" style={{ background: PALETTE[si % PALETTE.length] }} />
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
