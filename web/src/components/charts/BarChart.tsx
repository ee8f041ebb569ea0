import { niceTicks, PALETTE, withUnit } from './scale';

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

const W = 640;
const PAD = { top: 12, right: 16, bottom: 40, left: 52 };

/** Grouped vertical bars in plain SVG. */
export function BarChart({ categories, series, title, unit = '', height = 220 }: Props) {
  if (!categories.length) return <p className="muted">No data for this range.</p>;
  const vals = series.flatMap((s) => s.values.filter((v): v is number => v != null && Number.isFinite(v)));
  const ticks = niceTicks(vals.length ? Math.max(...vals) : 1);
  const yMax = ticks[ticks.length - 1] || 1;
  const H = height;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const groupW = iw / categories.length;
  const barW = Math.max(2, Math.min(28, (groupW * 0.8) / Math.max(1, series.length)));
  const sy = (y: number) => PAD.top + ih - (y / yMax) * ih;
  const label = (c: string) => (c.length > 16 ? `${c.slice(0, 15)}…` : c);

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} preserveAspectRatio="xMidYMid meet">
        <title>{title}</title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} className="grid" />
            <text x={PAD.left - 6} y={sy(t)} className="axis" textAnchor="end" dominantBaseline="middle">
              {withUnit(t, unit)}
            </text>
          </g>
        ))}
        {categories.map((c, ci) => {
          const gx = PAD.left + ci * groupW + (groupW - barW * series.length) / 2;
          return (
            <g key={c}>
              {series.map((s, si) => {
                const v = s.values[ci];
                if (v == null || !Number.isFinite(v)) return null;
                const y = sy(v);
                return (
                  <rect key={s.name} x={gx + si * barW} y={y} width={barW - 1} height={PAD.top + ih - y} fill={PALETTE[si % PALETTE.length]}>
                    <title>{`${c} · ${s.name}: ${withUnit(v, unit)}`}</title>
                  </rect>
                );
              })}
              <text x={PAD.left + ci * groupW + groupW / 2} y={H - 22} className="axis" textAnchor="middle">
                {label(c)}
              </text>
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
