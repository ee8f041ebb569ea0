// The chat's parts that need no React: a turn's request, reading its answer's stream, what its
// outcome does to the chat state (a ChatAction, see chatState.ts); the model's constraints; and
// the few browser helpers useChat needs.

import { ApiError, isAbortError } from '../lib/api';
import { addMessage } from '../lib/chat-api';
import { getConstraints, type ChatRequestMessage, type StreamEvent } from '../lib/chat-client';
import { inspectOf } from '../lib/inspect/types';
import type { LiveMetrics, MetricsSnapshot } from '../lib/metrics';
import type { ModelConstraints, ServerMetrics } from '../lib/types';
import type { ChatAction, ChatItem } from './chatState';

const MODEL_STORAGE_KEY = 'cortex.chat.model';

let localCounter = 0;
export const localKey = () => `local-${Date.now().toString(36)}-${++localCounter}`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const raf: (cb: () => void) => number =
  typeof requestAnimationFrame === 'function'
    ? (cb) => requestAnimationFrame(cb)
    : (cb) => setTimeout(cb, 16) as unknown as number;
export const cancelRaf: (id: number) => void =
  typeof cancelAnimationFrame === 'function' ? (id) => cancelAnimationFrame(id) : (id) => clearTimeout(id);

/** The model chosen last time (kept in the browser). */
export function storedModel(): string {
  try {
    return localStorage.getItem(MODEL_STORAGE_KEY) ?? '';
  } catch {
    return '';
  }
}

export function storeModel(name: string): void {
  try {
    if (name) localStorage.setItem(MODEL_STORAGE_KEY, name);
  } catch {
    /* storage unavailable */
  }
}

/**
 * The selected model's constraints, as an action that also seeds the settings from them. When
 * they cannot be read, the ones recorded with the open chat (`fallback`) stand in for its model.
 */
export async function constraintsOf(
  model: string,
  fallback: ModelConstraints | null,
  signal: AbortSignal,
): Promise<ChatAction> {
  if (!model) return { type: 'constraints', constraints: null, error: null, seed: false };
  try {
    return { type: 'constraints', constraints: await getConstraints(model, signal), error: null, seed: true };
  } catch (e) {
    const usable = fallback && fallback.served_model_name === model ? fallback : null;
    const error = e instanceof Error ? e.message : 'Could not load model constraints.';
    return { type: 'constraints', constraints: usable, error, seed: true };
  }
}

/** The system prompt of a new chat, saved as its first message (sent with the turn even if that fails). */
export async function saveSystemPrompt(sessionId: string, prompt: string): Promise<ChatItem> {
  const item: ChatItem = { key: localKey(), role: 'system', content: prompt };
  try {
    const saved = await addMessage(sessionId, 'system', prompt);
    if (saved && saved.id !== undefined) return { ...item, id: saved.id };
  } catch {
    /* not persisted; still sent with this turn */
  }
  return item;
}

/** The `messages` array sent upstream: non-empty turns, in order; an answer that called tools
 * goes with its calls, a tool's result with the call it answers. */
export function requestMessages(items: ChatItem[]): ChatRequestMessage[] {
  const out: ChatRequestMessage[] = [];
  for (const m of items) {
    const calls = m.role === 'assistant' ? inspectOf(m.metrics)?.tool_calls : undefined;
    if (calls?.length) out.push({ role: 'assistant', content: m.content || null, tool_calls: calls });
    else if (m.role === 'tool') out.push({ role: 'tool', tool_call_id: m.metrics?.tool_call_id ?? '', content: m.content });
    else if (m.content.trim() !== '' && (m.role === 'user' || m.role === 'assistant' || m.role === 'system'))
      out.push({ role: m.role, content: m.content });
  }
  return out;
}

export function friendlyError(e: ApiError): string {
  if (e.status === 0) return `${e.message} Check your connection and try again.`;
  if (e.status === 503) return `The model is unavailable (503): ${e.message}`;
  if (e.status === 409) return e.message;
  if (e.status === 429) return `Too many requests: ${e.message}`;
  return e.message;
}

/** What a turn's stream brought. */
export interface TurnResult {
  content: string;
  serverMetrics: ServerMetrics | null;
  /** An error event in the stream. */
  streamError: string | null;
  /** The request failed (not by the user's stop). */
  failure: ApiError | null;
  /** The user stopped it (or switched chats). */
  aborted: boolean;
}

export function emptyTurnResult(): TurnResult {
  return { content: '', serverMetrics: null, streamError: null, failure: null, aborted: false };
}

/** Read the answer's events into `result`, feeding the live metrics; throws what the stream throws. */
export async function readAnswer(
  stream: AsyncIterable<StreamEvent>,
  result: TurnResult,
  metrics: LiveMetrics,
  onProgress: () => void,
): Promise<void> {
  for await (const ev of stream) {
    if (ev.type === 'delta') {
      result.content += ev.content;
      metrics.onDelta(ev.content);
      onProgress();
    } else if (ev.type === 'usage') {
      metrics.onUsage(ev.usage.completion_tokens);
      onProgress();
    } else if (ev.type === 'metrics') {
      result.serverMetrics = ev.metrics;
      if (typeof ev.metrics.completion_tokens === 'number') metrics.onUsage(ev.metrics.completion_tokens);
    } else if (ev.type === 'error') {
      result.streamError = ev.message;
    }
  }
}

/** Record why a turn's request ended early. */
export function failTurn(result: TurnResult, e: unknown, signal: AbortSignal): void {
  if (signal.aborted || isAbortError(e)) result.aborted = true;
  else if (e instanceof ApiError) result.failure = e;
  else result.failure = new ApiError(e instanceof Error ? e.message : 'The request failed.', 0);
}

/** The turn failed before any content: the chat then shows what the server saved. */
export function failedBeforeContent(r: TurnResult): boolean {
  return !r.content && !r.aborted && (r.failure !== null || r.streamError !== null);
}

/**
 * How a finished turn changes the chat: the answer joins the messages, the performance line
 * keeps the live figures only while the server's are not in, and errors are shown.
 */
export function turnEnded(r: TurnResult, assistantKey: string, live: MetricsSnapshot): ChatAction {
  if (failedBeforeContent(r)) {
    const error = r.failure ? friendlyError(r.failure) : (r.streamError ?? 'The model returned an error.');
    return { type: 'turnEnded', live: null, error };
  }
  const shownLive = r.serverMetrics ? null : live;
  const base = { key: assistantKey, role: 'assistant' as const, content: r.content, metrics: r.serverMetrics };
  if (r.aborted) {
    return { type: 'turnEnded', live: shownLive, answer: r.content ? { ...base, localStatus: 'stopped' } : null };
  }
  const failed = r.streamError !== null || r.failure !== null;
  const answer: ChatItem = {
    ...base,
    localStatus: failed ? 'error' : undefined,
    created_at: new Date().toISOString(),
  };
  const error = r.failure
    ? friendlyError(r.failure)
    : r.streamError
      ? `The answer was cut short: ${r.streamError}`
      : undefined;
  return { type: 'turnEnded', live: shownLive, answer, error };
}
