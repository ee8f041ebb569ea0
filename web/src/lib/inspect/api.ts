// The inspector's calls to the gateway: presets, the checks kept with a chat, batch requests.
import { api } from '../api';
import type { BatchReport, ChatChecks, Preset, PresetBody, ToolSpec } from './types';

export async function listPresets(): Promise<Preset[]> {
  const res = await api<{ presets: Preset[] }>('/v1/presets');
  return Array.isArray(res?.presets) ? res.presets : [];
}

export function createPreset(name: string, shared: boolean, preset: PresetBody): Promise<Preset> {
  return api<Preset>('/v1/presets', { method: 'POST', body: { name, shared, preset } });
}

export function deletePreset(id: string): Promise<void> {
  return api<void>(`/v1/presets/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function getChecks(sessionId: string, signal?: AbortSignal): Promise<ChatChecks> {
  return api<ChatChecks>(`/v1/chat/sessions/${encodeURIComponent(sessionId)}/inspector`, { signal });
}

export function saveChecks(
  sessionId: string,
  checks: { output_schema: Record<string, unknown> | null; tools: ToolSpec[] | null; batch: BatchReport | null },
): Promise<ChatChecks> {
  return api<ChatChecks>(`/v1/chat/sessions/${encodeURIComponent(sessionId)}/inspector`, {
    method: 'PUT',
    body: checks,
  });
}

/** One whole (not streamed) completion outside any chat, for a batch run. */
export async function completeOnce(body: Record<string, unknown>, signal?: AbortSignal): Promise<string> {
  const res = await api<{ choices?: { message?: { content?: string | null } }[] }>('/v1/chat/completions', {
    method: 'POST',
    body: { ...body, stream: false },
    signal,
  });
  return res?.choices?.[0]?.message?.content ?? '';
}

/** The prompt's tokens as text, from the model server's own tokenizer; null when it gives none. */
export async function promptTokens(
  model: string,
  messages: { role: string; content: string }[],
): Promise<{ count: number; exact: boolean; tokens: string[] | null }> {
  const res = await api<{ count: number; exact: boolean; tokens?: string[] | null }>(
    `/v1/models/${encodeURIComponent(model)}/tokenize`,
    { method: 'POST', body: { messages, with_tokens: true } },
  );
  return { count: res.count, exact: res.exact, tokens: res.tokens ?? null };
}
