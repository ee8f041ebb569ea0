import { useEffect, useMemo, useRef, useState } from 'react';
import { tokenize } from '../lib/chat-client';
import { contextMessages, estimateMessagesTokens, estimateTextTokens, totalChars, type CountableMessage } from '../lib/context';
import { CHARS_PER_TOKEN } from '../lib/metrics';

export const TOKENIZE_DEBOUNCE_MS = 300;

interface Base {
  model: string;
  count: number;
  exact: boolean;
  chars: number;
  limit: number | null;
}

/**
 * Tokens used by system prompt + conversation + draft. Asks the model's tokenizer
 * (POST /v1/models/{name}/tokenize, debounced) and falls back to ~4 chars/token.
 * Between answers the last count is adjusted by the estimated size of what changed.
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
  const chars = useMemo(() => totalChars(all), [all]);
  const [base, setBase] = useState<Base | null>(null);
  const ctrlRef = useRef<AbortController | null>(null);

  useEffect(() => {
    if (!model || isStreaming) return;
    if (all.length === 0) {
      ctrlRef.current?.abort();
      setBase({ model, count: 0, exact: true, chars: 0, limit: null });
      return;
    }
    const timer = window.setTimeout(async () => {
      ctrlRef.current?.abort();
      const ctrl = new AbortController();
      ctrlRef.current = ctrl;
      const sentChars = totalChars(all);
      try {
        const r = await tokenize(model, all, ctrl.signal);
        if (ctrl.signal.aborted) return;
        if (r && typeof r.count === 'number' && r.exact !== false) {
          setBase({ model, count: r.count, exact: true, chars: sentChars, limit: r.max_model_len ?? null });
        } else {
          setBase({
            model,
            count: estimateMessagesTokens(all),
            exact: false,
            chars: sentChars,
            limit: r?.max_model_len ?? null,
          });
        }
      } catch {
        if (ctrl.signal.aborted) return;
        setBase({ model, count: estimateMessagesTokens(all), exact: false, chars: sentChars, limit: null });
      }
    }, TOKENIZE_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [model, all, isStreaming]);

  useEffect(() => () => ctrlRef.current?.abort(), []);

  const streamTokens = streamingText ? estimateTextTokens(streamingText) : 0;
  let count: number;
  let exact: boolean;
  if (base && base.model === model) {
    count = Math.max(0, base.count + Math.round((chars - base.chars) / CHARS_PER_TOKEN)) + streamTokens;
    exact = base.exact && !streamTokens;
  } else {
    count = estimateMessagesTokens(all) + streamTokens;
    exact = count === 0;
  }
  return { count, exact, tokenizerLimit: base && base.model === model ? base.limit : null };
}
