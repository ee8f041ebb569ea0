// A schema batch: the prompt sent N times (a few at once), each answer checked against the schema.
import { completeOnce } from './api';
import { checkText } from './schema';
import { percentile } from './stats';
import type { BatchReport } from './types';

export const BATCH_CONCURRENCY = 4;
const FAILURES_KEPT = 50;

export interface BatchInput {
  model: string;
  prompt: string;
  runs: number;
  /** The request body without `model`/`stream`; `messages` already holds the prompt. */
  body: Record<string, unknown>;
  schema: unknown;
  signal?: AbortSignal;
  onProgress?: (done: number) => void;
}

export async function runBatch(input: BatchInput): Promise<BatchReport> {
  const latencies: number[] = [];
  const failures: BatchReport['failures'] = [];
  let valid = 0;
  let errors = 0;
  let next = 0;
  let done = 0;
  const baseSeed = typeof input.body.seed === 'number' ? input.body.seed : 0;
  const worker = async () => {
    while (next < input.runs) {
      const run = next++;
      const started = performance.now();
      try {
        // A seed of its own per run: the runs sample, as N separate requests would.
        const text = await completeOnce({ ...input.body, model: input.model, seed: baseSeed + run }, input.signal);
        latencies.push(performance.now() - started);
        const verdict = checkText(text, input.schema);
        if (verdict.ok) valid++;
        else if (failures.length < FAILURES_KEPT) failures?.push({ run, path: verdict.path, message: verdict.message.slice(0, 500) });
      } catch (e) {
        if (input.signal?.aborted) throw e;
        errors++;
        if (failures.length < FAILURES_KEPT)
          failures.push({ run, path: 'request', message: (e instanceof Error ? e.message : 'failed').slice(0, 500) });
      }
      input.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, input.runs) }, worker));
  failures.sort((a, b) => a.run - b.run);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    model: input.model,
    prompt: input.prompt,
    runs: input.runs,
    valid,
    errors,
    latency_ms_p50: round(percentile(latencies, 0.5)),
    latency_ms_p95: round(percentile(latencies, 0.95)),
    latency_ms_max: round(latencies.length ? Math.max(...latencies) : null),
    failures,
    finished_at: new Date().toISOString(),
  };
}
