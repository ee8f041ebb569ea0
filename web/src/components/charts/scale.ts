// Colours and number labels shared by the charts.

export const PALETTE = ['#2457d6', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#0c8599', '#c2255c', '#5c677d'];

export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(1)}`;
}

/** Axis/tooltip label with a unit; milliseconds of 1,000 and more are shown in seconds. */
export function withUnit(n: number, unit: string): string {
  if (unit === 'ms' && Math.abs(n) >= 1000) return `${+(n / 1000).toFixed(2)}s`;
  return `${compact(n)}${unit}`;
}
