// The comparison API (side-by-side compare) and the arena leaderboards.

import { api, newIdempotencyKey } from './api';
import type { components } from './api.gen';

type Schemas = components['schemas'];
export type Comparison = Schemas['ComparisonView'];
export type ComparisonSummary = Schemas['ComparisonSummary'];
export type Pane = Schemas['PaneView'];
export type Sampling = Schemas['Sampling'];
export type CreateComparisonBody = Schemas['CreateComparison'];
export type Leaderboard = Schemas['Leaderboard'];
export type VoteChoice = Schemas['CastVote']['choice'];

export function listComparisons(signal?: AbortSignal): Promise<ComparisonSummary[]> {
  return api<Schemas['ComparisonPage']>('/v1/comparisons', { signal }).then((p) =>
    Array.isArray(p?.comparisons) ? p.comparisons : [],
  );
}

export function createComparison(body: CreateComparisonBody): Promise<Comparison> {
  return api<Comparison>('/v1/comparisons', {
    method: 'POST',
    body,
    headers: { 'Idempotency-Key': newIdempotencyKey() },
  });
}

export function getComparison(id: string, signal?: AbortSignal): Promise<Comparison> {
  return api<Comparison>(`/v1/comparisons/${encodeURIComponent(id)}`, { signal });
}

export function deleteComparison(id: string): Promise<void> {
  return api<void>(`/v1/comparisons/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function addTurn(id: string, prompt: string, sampling: Sampling[]): Promise<Schemas['TurnView']> {
  return api<Schemas['TurnView']>(`/v1/comparisons/${encodeURIComponent(id)}/turns`, {
    method: 'POST',
    body: { prompt, sampling },
  });
}

export function castVote(id: string, turn: number, choice: VoteChoice, pane: number | null): Promise<Comparison> {
  return api<Comparison>(`/v1/comparisons/${encodeURIComponent(id)}/votes`, {
    method: 'POST',
    body: { turn, choice, pane },
  });
}

export function panePath(id: string, pane: number): string {
  return `/v1/comparisons/${encodeURIComponent(id)}/panes/${pane}/completions`;
}

export function getLeaderboard(scope: 'user' | 'all', blindOnly: boolean, signal?: AbortSignal): Promise<Leaderboard> {
  const base = scope === 'all' ? '/admin/leaderboard' : '/v1/leaderboard';
  return api<Leaderboard>(`${base}?blind_only=${blindOnly}`, { signal });
}
