// The prefill contract (/compare?from_session=<id>&message=<message id>): a new comparison with
// that chat's system prompt and its conversation up to that message, its model in pane A.

import { useEffect, useState } from 'react';
import { getSession } from '../lib/chat-api';
import type { PrefillMessage } from './compareSetup';

export interface Prefill {
  fromSession: string;
  model: string;
  systemPrompt: string;
  messages: PrefillMessage[];
  /** The chosen message was the user's: it becomes the first prompt. */
  draft: string;
}

export function prefillFrom(
  session: { id: string; model_name: string; messages: { id: number; role: string; content: string }[] },
  messageId: number | null,
): Prefill {
  const upTo = messageId === null ? session.messages.length - 1 : session.messages.findIndex((m) => m.id === messageId);
  const kept = session.messages.slice(0, upTo < 0 ? session.messages.length : upTo + 1);
  const system = kept.find((m) => m.role === 'system')?.content ?? '';
  const turns = kept.filter((m): m is { id: number; role: 'user' | 'assistant'; content: string } => m.role !== 'system');
  const last = turns[turns.length - 1];
  const draft = last?.role === 'user' ? last.content : '';
  const history = draft ? turns.slice(0, -1) : turns;
  return {
    fromSession: session.id,
    model: session.model_name,
    systemPrompt: system,
    messages: history.map((m) => ({ role: m.role, content: m.content })),
    draft,
  };
}

export function useComparePrefill(fromSession: string | null, message: string | null) {
  const [prefill, setPrefill] = useState<Prefill | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!fromSession) return;
    const ctrl = new AbortController();
    getSession(fromSession, ctrl.signal)
      .then((s) => {
        const id = message !== null && /^\d+$/.test(message) ? Number(message) : null;
        if (!ctrl.signal.aborted) setPrefill(prefillFrom(s, id));
      })
      .catch((e: unknown) => {
        if (!ctrl.signal.aborted) setError(`Could not open that chat: ${e instanceof Error ? e.message : e}`);
      });
    return () => ctrl.abort();
  }, [fromSession, message]);
  return { prefill, error };
}
