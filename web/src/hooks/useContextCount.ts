import { useEffect, useMemo, useRef, useState } from 'react';
import { tokenize } from '../lib/chat-client';
import { contextMessages, estimateMessagesTokens, estimateTextTokens, totalChars, type CountableMessage } from '../lib/context';
import { CHARS_PER_TOKEN } from '../lib/metrics';

export const TOKENIZE_DEBOUNCE_MS = 300;

interface Base {
  model: string;
  count: number;
  exact: boolean;
  /** What was counted: the conversation (system prompt and messages) and the draft's length. */
  conversation: string;
  draftChars: number;
  limit: number | null;
}

/** Identifies the conversation part of what is counted (cheap: lengths and the last message). */
function conversationKey(messages: CountableMessage[]): string {
  const last = messages[messages.length - 1];
  return `${messages.length}:${totalChars(messages)}:${last ? last.role + last.content.slice(-32) : ''}`;
}

/**
 * Tokens used by system prompt + conversation + draft. Asks the model's tokenizer
 * (POST /v1/models/{name}/tokenize, debounced) and falls back to ~4 chars/token.
 * While only the draft changes, the last count is adjusted by the draft's estimated size; when the
 * conversation changed (a chat opened, an answer arrived) the whole count is an estimate, marked
 * as such, until the tokenizer answers.
 */
export function useContextCount(opts: {
  model: string;
  systemPrompt: string;
  history: CountableMessage[];
  draft: string;
  streamingText: string;
  isStreaming: boolean;
}) {
  const { model, systemPrompt, history, draft, streamingText, isStreaming } = opts;
  const all = useMemo(() => contextMessages(systemPrompt, history, draft), [systemPrompt, history, draft]);
  const conversation = useMemo(() => conversationKey(contextMessages(systemPrompt, history, '')), [systemPrompt, history]);
  const draftChars = draft.trim() ? draft.length : 0;
  const [base, setBase] = useState<Base | null>(null);
  const ctrlRef = useRef<AbortController | null>(null);

  useEffect(() => {
    if (!model || isStreaming) return;
    if (all.length === 0) {
      ctrlRef.current?.abort();
      setBase({ model, count: 0, exact: true, conversation, draftChars, limit: null });
      return;
    }
    const timer = window.setTimeout(async () => {
      ctrlRef.current?.abort();
      const ctrl = new AbortController();
      ctrlRef.current = ctrl;
      const counted = { conversation, draftChars };
      try {
        const r = await tokenize(model, all, ctrl.signal);
        if (ctrl.signal.aborted) return;
        if (r && typeof r.count === 'number' && r.exact !== false) {
          setBase({ model, count: r.count, exact: true, ...counted, limit: r.max_model_len ?? null });
        } else {
          setBase({
            model,
            count: estimateMessagesTokens(all),
            exact: false,
            ...counted,
            limit: r?.max_model_len ?? null,
          });
        }
      } catch {
        if (ctrl.signal.aborted) return;
        setBase({ model, count: estimateMessagesTokens(all), exact: false, ...counted, limit: null });
      }
    }, TOKENIZE_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [model, all, conversation, draftChars, isStreaming]);

  useEffect(() => () => ctrlRef.current?.abort(), []);

  const streamTokens = streamingText ? estimateTextTokens(streamingText) : 0;
  let count: number;
  let exact: boolean;
  if (base && base.model === model && base.conversation === conversation) {
    const draftDelta = Math.round((draftChars - base.draftChars) / CHARS_PER_TOKEN);
    count = Math.max(0, base.count + draftDelta) + streamTokens;
    exact = base.exact && !streamTokens;
  } else {
    count = estimateMessagesTokens(all) + streamTokens;
    exact = count === 0;
  }
  return { count, exact, tokenizerLimit: base && base.model === model ? base.limit : null };
}
