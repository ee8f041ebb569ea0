// A new comparison's setup (panes, blind mode, system prompt, prefilled conversation) as the
// body the API takes.

import type { CreateComparisonBody, Sampling } from '../lib/compare-api';
import { titleFromMessage } from '../lib/chat-api';
import { DEFAULT_SETTINGS } from './chatState';

export const MIN_PANES = 2;
export const MAX_PANES = 4;
export const DEFAULT_SAMPLING: Sampling = {
  temperature: DEFAULT_SETTINGS.temperature,
  top_p: DEFAULT_SETTINGS.topP,
  max_tokens: DEFAULT_SETTINGS.maxTokens,
};

export interface PrefillMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface Setup {
  models: string[];
  blind: boolean;
  systemPrompt: string;
  messages: PrefillMessage[];
  fromSession: string | null;
}

export function setupBody(setup: Setup, sampling: Sampling[], same: boolean, prompt: string): CreateComparisonBody {
  return {
    title: titleFromMessage(prompt),
    blind: setup.blind,
    panes: setup.models.map((model_name, i) => ({ model_name, sampling: (same ? sampling[0] : sampling[i]) ?? {} })),
    system_prompt: setup.systemPrompt.trim() || null,
    messages: setup.messages,
    from_session_id: setup.fromSession,
  };
}

/** Why the setup cannot start yet, or null. */
export function setupProblem(setup: Setup): string | null {
  if (setup.models.length < MIN_PANES) return `Choose at least ${MIN_PANES} panes.`;
  if (setup.models.some((m) => !m)) return 'Choose a model for every pane.';
  return null;
}
