// What the benchmark figures mean (tooltips), and the chart series made from a run's levels.

import type { LevelStats, LevelView, RunView } from './bench-api';

type Metric = 'ttft_ms' | 'tpot_ms' | 'itl_ms' | 'e2el_ms';

/** vLLM `bench serve` names and definitions; GuideLLM's names where they differ. */
export const DEFINITIONS: Record<string, string> = {
  TTFT: 'Time to first token: first streamed chunk with content − request sent (vLLM and GuideLLM agree).',
  TPOT:
    'Time per output token, vLLM convention: (E2EL − TTFT) / (output tokens − 1), per request. GuideLLM calls this "ITL"; GuideLLM\'s own "TPOT" is E2EL / output tokens (it includes the first token).',
  ITL: 'Inter-token latency, vLLM convention: every gap between consecutive streamed chunks, pooled over all requests of the level.',
  E2EL: 'End-to-end latency: last streamed chunk − request sent.',
  'req/s': 'Request throughput: completed requests / level duration (first request sent to last one done).',
  'out tok/s': 'Output token throughput: output tokens of completed requests / level duration.',
  'total tok/s': 'Total token throughput: (input + output tokens) / level duration.',
  goodput:
    'Goodput (DistServe, vLLM --goodput): completed requests meeting every SLO given / level duration; the share of such requests in brackets.',
};

export const PERCENTILES = ['median', 'p90', 'p99'] as const;

export function loadLabel(run: Pick<RunView, 'settings'>): string {
  return run.settings.shape === 'rate' ? 'request rate (req/s)' : 'concurrency';
}

export interface Point {
  x: number;
  y: number;
}

/** One figure per level, as points against the level's load (concurrency or rate). */
export function pointsOf(levels: LevelView[], pick: (s: LevelStats) => number | null | undefined): Point[] {
  return levels
    .filter((l) => !l.partial)
    .map((l) => ({ x: l.load, y: pick(l.stats) }))
    .filter((p): p is Point => p.y !== null && p.y !== undefined && Number.isFinite(p.y))
    .sort((a, b) => a.x - b.x);
}

export function percentilePoints(levels: LevelView[], metric: Metric, stat: (typeof PERCENTILES)[number]): Point[] {
  return pointsOf(levels, (s) => s[metric]?.[stat]);
}

/** The run's share done, 0..1, for the progress bar. */
export function progressOf(run: RunView): number {
  if (run.summary.status !== 'running' && run.summary.status !== 'queued') return 1;
  return run.progress?.fraction ?? 0;
}

export function isActive(status: string): boolean {
  return status === 'queued' || status === 'running';
}

/** "1,4, 16" -> [1, 4, 16]; null when a part is not a positive number. */
export function parseLevels(text: string): number[] | null {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (!parts.length) return null;
  const values = parts.map(Number);
  return values.every((v) => Number.isFinite(v) && v > 0) ? values : null;
}

/** The prompts of an uploaded JSON Lines file: {"prompt": "..."} (or "text", or a bare string) a line. */
export function parseJsonLines(text: string): string[] {
  const prompts: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} is not JSON`);
    }
    const value =
      typeof item === 'string'
        ? item
        : item && typeof item === 'object'
          ? ((item as Record<string, unknown>).prompt ?? (item as Record<string, unknown>).text)
          : undefined;
    if (typeof value !== 'string') throw new Error(`line ${i + 1} has no "prompt" text`);
    prompts.push(value);
  });
  if (!prompts.length) throw new Error('the file has no prompts');
  return prompts;
}
