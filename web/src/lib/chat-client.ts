// Streaming chat client and model APIs.

import { api, apiFetch, errorFromResponse, ApiError } from './api';
import { readSSE } from './sse';
import type { ModelConstraints, RunningModel, ServerMetrics, TokenizeResult, Usage } from './types';

export async function listRunningModels(signal?: AbortSignal): Promise<RunningModel[]> {
  const res = await api<{ models: RunningModel[] }>('/v1/models/running', { signal });
  return Array.isArray(res?.models) ? res.models : [];
}

export function getConstraints(model: string, signal?: AbortSignal): Promise<ModelConstraints> {
  return api<ModelConstraints>(`/v1/models/${encodeURIComponent(model)}/constraints`, { signal });
}

export function tokenize(
  model: string,
  messages: { role: string; content: string }[],
  signal?: AbortSignal,
): Promise<TokenizeResult> {
  return api<TokenizeResult>(`/v1/models/${encodeURIComponent(model)}/tokenize`, {
    method: 'POST',
    body: { messages },
    signal,
  });
}

export interface ChatRequestMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  /** An assistant's calls of the tools it was given (kept with its answer). */
  tool_calls?: unknown[];
  /** A `tool` message: the call it answers. */
  tool_call_id?: string;
}

export interface StreamChatOptions {
  model: string;
  messages: ChatRequestMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  /** More body fields (the inspector's logprobs, seed, response_format, tools); never model/messages/stream. */
  extra?: Record<string, unknown>;
  sessionId?: string | null;
  regenerate?: boolean;
  signal?: AbortSignal;
  /** Called with the gateway's completion id (header X-Cortex-Completion-Id) once the stream opens. */
  onCompletionId?: (id: string) => void;
  /** Where to post (a comparison pane's completions); /v1/chat/completions by default. */
  path?: string;
}

export const COMPLETION_ID_HEADER = 'X-Cortex-Completion-Id';

export type StreamEvent =
  | { type: 'delta'; content: string }
  | { type: 'usage'; usage: Usage }
  | { type: 'metrics'; metrics: ServerMetrics }
  | { type: 'finish'; reason: string }
  | { type: 'error'; message: string; code?: string }
  | { type: 'done' };

/** The JSON body sent to /v1/chat/completions. */
export function buildCompletionBody(opts: StreamChatOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ...opts.extra,
    model: opts.model,
    messages: opts.messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (opts.temperature !== undefined && Number.isFinite(opts.temperature)) body.temperature = opts.temperature;
  if (opts.top_p !== undefined && Number.isFinite(opts.top_p)) body.top_p = opts.top_p;
  if (opts.max_tokens !== undefined && Number.isFinite(opts.max_tokens)) body.max_tokens = opts.max_tokens;
  return body;
}

export function buildCompletionHeaders(opts: StreamChatOptions): Record<string, string> {
  const headers: Record<string, string> = {
    Accept: 'text/event-stream',
    'X-Cortex-Metrics': 'true',
  };
  if (opts.sessionId) headers['X-Chat-Session-Id'] = opts.sessionId;
  if (opts.regenerate) headers['X-Chat-Regenerate'] = 'true';
  return headers;
}

/** Map one SSE event (name + data) to zero or more stream events. */
export function interpretSSE(event: string, data: string): StreamEvent[] {
  const trimmed = data.trim();
  if (trimmed === '[DONE]') return [{ type: 'done' }];
  if (!trimmed) return [];
  let obj: unknown;
  try {
    obj = JSON.parse(trimmed);
  } catch {
    if (event === 'error') return [{ type: 'error', message: trimmed }];
    return [];
  }
  if (!obj || typeof obj !== 'object') return [];
  const o = obj as Record<string, unknown>;
  if (event === 'cortex.metrics') return [{ type: 'metrics', metrics: o as ServerMetrics }];

  const out: StreamEvent[] = [];
  if (o.error) {
    const err = o.error as Record<string, unknown> | string;
    const message =
      typeof err === 'string' ? err : typeof err.message === 'string' ? err.message : 'The model returned an error.';
    const code = typeof err === 'object' && err.code != null ? String(err.code) : undefined;
    out.push({ type: 'error', message, code });
    return out;
  }
  if (event === 'error') {
    out.push({ type: 'error', message: typeof o.message === 'string' ? o.message : trimmed });
    return out;
  }
  const choices = Array.isArray(o.choices) ? (o.choices as Record<string, unknown>[]) : [];
  for (const ch of choices) {
    const delta = (ch.delta ?? ch.message) as Record<string, unknown> | undefined;
    const content = delta && typeof delta.content === 'string' ? delta.content : '';
    if (content) out.push({ type: 'delta', content });
    // Some servers (completion-style) stream `text`.
    if (!content && typeof ch.text === 'string' && ch.text) out.push({ type: 'delta', content: ch.text });
    if (typeof ch.finish_reason === 'string' && ch.finish_reason) out.push({ type: 'finish', reason: ch.finish_reason });
  }
  if (o.usage && typeof o.usage === 'object') out.push({ type: 'usage', usage: o.usage as Usage });
  return out;
}

/**
 * POST /v1/chat/completions with stream=true and yield parsed events. Throws ApiError for a non-2xx
 * answer (503 model down, 409 lock conflict, ...) and AbortError when `signal` aborts.
 */
export async function* streamChat(opts: StreamChatOptions): AsyncGenerator<StreamEvent> {
  const res = await apiFetch(opts.path ?? '/v1/chat/completions', {
    method: 'POST',
    body: buildCompletionBody(opts),
    headers: buildCompletionHeaders(opts),
    signal: opts.signal,
  });
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) throw new ApiError('The gateway sent an empty stream.', res.status);
  const completionId = res.headers.get(COMPLETION_ID_HEADER);
  if (completionId) opts.onCompletionId?.(completionId);
  for await (const ev of readSSE(res.body)) {
    for (const out of interpretSSE(ev.event, ev.data)) {
      yield out;
      if (out.type === 'done') return;
    }
  }
}

/**
 * Ask the gateway to stop a running completion: the stream then ends normally with status
 * `stopped` and the partial answer is saved. Resolves false when the gateway does not know it.
 */
export async function stopCompletion(completionId: string): Promise<boolean> {
  try {
    await api<void>(`/v1/chat/completions/${encodeURIComponent(completionId)}/stop`, { method: 'POST' });
    return true;
  } catch {
    return false;
  }
}
