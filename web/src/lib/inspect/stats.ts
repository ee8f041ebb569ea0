/** Nearest-rank percentile of `values` (q in 0..1); null for none. */
export function percentile(values: number[], q: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Probability (0..1) of a logprob. */
export const probability = (logprob: number) => Math.exp(logprob);

/** Background colour of a token by its probability: red (unsure) to green (sure). */
export function probabilityColour(p: number): string {
  const hue = Math.round(Math.max(0, Math.min(1, p)) * 120);
  return `hsl(${hue} 70% 85%)`;
}

export const percent = (p: number) => `${(p * 100).toFixed(p >= 0.995 || p < 0.01 ? 1 : 0)}%`;
