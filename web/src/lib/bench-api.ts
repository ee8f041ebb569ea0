// Benchmark runs: /v1/bench/runs (docs/benchmark-runs.md).

import { api, withQuery } from './api';
import type { components } from './api.gen';

type Schemas = components['schemas'];
export type RunRequest = Schemas['RunRequest'];
export type RunSummary = Schemas['RunSummary'];
export type RunView = Schemas['BenchRunView'];
export type LevelView = Schemas['LevelView'];
export type LevelStats = Schemas['LevelStats'];

export const startRun = (body: RunRequest) => api<RunSummary>('/v1/bench/runs', { method: 'POST', body });
export const listRuns = (model?: string) =>
  api<{ runs: RunSummary[] }>(withQuery('/v1/bench/runs', { model })).then((r) => r?.runs ?? []);
export const getRun = (id: string, signal?: AbortSignal) =>
  api<RunView>(`/v1/bench/runs/${encodeURIComponent(id)}`, { signal });
export const cancelRun = (id: string) =>
  api<RunSummary>(`/v1/bench/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: {} });
export const exportUrl = (id: string, format: 'json' | 'csv') =>
  withQuery(`/v1/bench/runs/${encodeURIComponent(id)}/export`, { format });
