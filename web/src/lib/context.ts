// Context-window accounting for the chat input.

import { formatInt } from './format';
import { CHARS_PER_TOKEN } from './metrics';

export interface CountableMessage {
  role: string;
  content: string;
}

/** Chat templates add a few tokens per message (role markers, separators). */
export const PER_MESSAGE_OVERHEAD = 4;
export const WARN_RATIO = 0.9;

export function estimateTextTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** ~4 characters per token plus a small per-message overhead. */
export function estimateMessagesTokens(messages: CountableMessage[]): number {
  let total = 0;
  for (const m of messages) {
    if (!m.content) continue;
    total += estimateTextTokens(m.content) + PER_MESSAGE_OVERHEAD;
  }
  return total;
}

export function totalChars(messages: CountableMessage[]): number {
  let n = 0;
  for (const m of messages) n += m.content.length;
  return n;
}

/**
 * Build the list of messages whose size counts against the context: system prompt, history, draft.
 * Empty entries are dropped.
 */
export function contextMessages(
  systemPrompt: string | null | undefined,
  history: CountableMessage[],
  draft: string,
): CountableMessage[] {
  const out: CountableMessage[] = [];
  if (systemPrompt && systemPrompt.trim()) out.push({ role: 'system', content: systemPrompt });
  for (const m of history) if (m.content) out.push({ role: m.role, content: m.content });
  if (draft.trim()) out.push({ role: 'user', content: draft });
  return out;
}

/** "Context: 1,234 / 32,768 tokens", with " (estimate)" when the count is not exact. */
export function formatContextLine(count: number, limit: number | null | undefined, exact: boolean): string {
  const lim = limit && limit > 0 ? formatInt(limit) : '—';
  return `Context: ${formatInt(count)} / ${lim} tokens${exact ? '' : ' (estimate)'}`;
}

export type ContextLevel = 'ok' | 'warn' | 'over';

/**
 * 'over' when the prompt plus the requested completion budget does not fit (Send is blocked),
 * 'warn' above 90 % of the window, else 'ok'.
 */
export function contextLevel(count: number, limit: number | null | undefined, maxTokens: number): ContextLevel {
  if (!limit || limit <= 0) return 'ok';
  if (count + Math.max(0, maxTokens) > limit) return 'over';
  if (count > WARN_RATIO * limit) return 'warn';
  return 'ok';
}

export function usageRatio(count: number, limit: number | null | undefined): number {
  if (!limit || limit <= 0) return 0;
  return Math.min(1, count / limit);
}
