// The chat page's state and the pure reducer that changes it (useChat dispatches; no I/O here).

import type { MetricsSnapshot } from '../lib/metrics';
import { parseMetrics, type Message, type ModelConstraints, type Role, type ServerMetrics, type Session } from '../lib/types';

export interface ChatItem {
  /** Stable React key. */
  key: string;
  id?: string | number;
  role: Role;
  content: string;
  metrics?: ServerMetrics | null;
  created_at?: string;
  /** Client-side outcome when the server's figures are not known (yet). */
  localStatus?: 'stopped' | 'error';
}

export interface ChatSettings {
  systemPrompt: string;
  temperature: number;
  topP: number;
  maxTokens: number;
}

export interface StreamingMessage {
  key: string;
  content: string;
}

export const DEFAULT_SETTINGS: ChatSettings = { systemPrompt: '', temperature: 0.7, topP: 1, maxTokens: 512 };

export interface ChatState {
  sessionId: string | null;
  title: string | null;
  messages: ChatItem[];
  /** The answer being received (shown below the messages until the turn ends). */
  streaming: StreamingMessage | null;
  isStreaming: boolean;
  stopping: boolean;
  live: MetricsSnapshot | null;
  error: string | null;
  loadingSession: boolean;
  model: string;
  constraints: ModelConstraints | null;
  constraintsError: string | null;
  settings: ChatSettings;
  draft: string;
}

export function initialChatState(model = ''): ChatState {
  return {
    sessionId: null,
    title: null,
    messages: [],
    streaming: null,
    isStreaming: false,
    stopping: false,
    live: null,
    error: null,
    loadingSession: false,
    model,
    constraints: null,
    constraintsError: null,
    settings: DEFAULT_SETTINGS,
    draft: '',
  };
}

export type ChatAction =
  | { type: 'newChat' }
  | { type: 'loadStarted'; sessionId: string }
  | { type: 'loaded'; session: Session }
  | { type: 'loadEnded'; error?: string }
  | { type: 'synced'; messages: ChatItem[]; title: string | null }
  | { type: 'modelSelected'; model: string }
  /** Constraints of the selected model (or a fallback); `seed` refills the settings from them. */
  | { type: 'constraints'; constraints: ModelConstraints | null; error: string | null; seed: boolean }
  | { type: 'settingsChanged'; settings: ChatSettings }
  | { type: 'draftChanged'; draft: string }
  /** A failed message goes back into the box, unless the user typed something else meanwhile. */
  | { type: 'draftRestored'; draft: string }
  | { type: 'errorChanged'; error: string | null }
  | { type: 'messagesReplaced'; messages: ChatItem[] }
  | { type: 'messageAdded'; item: ChatItem; first?: boolean }
  | { type: 'messageRemoved'; key: string }
  | { type: 'turnStarted'; userItem: ChatItem | null; assistantKey: string; live: MetricsSnapshot }
  | { type: 'sessionCreated'; sessionId: string; title: string }
  | { type: 'streamed'; content: string; live: MetricsSnapshot }
  | { type: 'stopRequested' }
  | { type: 'streamClosed' }
  /** The turn is over: the streaming answer goes away, `answer` (if any) joins the messages. */
  | { type: 'turnEnded'; live: MetricsSnapshot | null; answer?: ChatItem | null; error?: string | null };

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'newChat':
      return {
        ...state,
        ...emptyChat,
        sessionId: null,
        loadingSession: false,
        settings: { ...state.settings, systemPrompt: '' },
      };
    case 'loadStarted':
      return { ...state, ...emptyChat, sessionId: action.sessionId, loadingSession: true };
    case 'loaded': {
      const messages = conversationItems(action.session.messages);
      const system = messages.find((m) => m.role === 'system');
      return {
        ...state,
        messages,
        title: action.session.title,
        model: action.session.model_name || state.model,
        settings: { ...state.settings, systemPrompt: system ? system.content : '' },
      };
    }
    case 'loadEnded':
      return { ...state, loadingSession: false, error: action.error ?? state.error };
    case 'synced':
      return { ...state, messages: action.messages, title: action.title || state.title };
    case 'modelSelected':
      return { ...state, model: action.model };
    case 'constraints':
      return {
        ...state,
        constraints: action.constraints,
        constraintsError: action.error,
        settings:
          action.seed && action.constraints ? settingsFromConstraints(action.constraints, state.settings) : state.settings,
      };
    case 'settingsChanged':
      return { ...state, settings: action.settings };
    case 'draftChanged':
      return { ...state, draft: action.draft };
    case 'draftRestored':
      return state.draft.trim() ? state : { ...state, draft: action.draft };
    case 'errorChanged':
      return { ...state, error: action.error };
    case 'messagesReplaced':
      return { ...state, messages: action.messages };
    case 'messageAdded':
      return {
        ...state,
        messages: action.first ? [action.item, ...state.messages] : [...state.messages, action.item],
      };
    case 'messageRemoved':
      return { ...state, messages: state.messages.filter((m) => m.key !== action.key) };
    case 'turnStarted':
      return {
        ...state,
        isStreaming: true,
        stopping: false,
        error: null,
        live: action.live,
        streaming: { key: action.assistantKey, content: '' },
        messages: action.userItem ? [...state.messages, action.userItem] : state.messages,
      };
    case 'sessionCreated':
      return { ...state, sessionId: action.sessionId, title: action.title };
    case 'streamed':
      return state.streaming
        ? { ...state, streaming: { ...state.streaming, content: action.content }, live: action.live }
        : state;
    case 'stopRequested':
      return { ...state, stopping: true };
    case 'streamClosed':
      return { ...state, isStreaming: false, stopping: false };
    case 'turnEnded':
      return {
        ...state,
        streaming: null,
        live: action.live,
        messages: action.answer ? [...state.messages, action.answer] : state.messages,
        error: action.error === undefined ? state.error : action.error,
      };
  }
}

/** What a new or newly opened chat starts from (its session id is set by the action). */
const emptyChat = { title: null, messages: [], streaming: null, live: null, error: null } satisfies Partial<ChatState>;

// ---- messages as shown and sent -------------------------------------------------------------------

export function toItem(m: Message): ChatItem {
  return {
    key: `m-${m.id}`,
    id: m.id,
    role: m.role,
    content: m.content ?? '',
    metrics: parseMetrics(m.metrics_json),
    created_at: m.created_at,
  };
}

/**
 * The conversation as shown and sent: a regenerated answer replaces the one before it. The gateway
 * keeps every recorded answer (regenerate appends), so of consecutive assistant messages only the
 * last one counts.
 */
export function conversationItems(messages: Message[]): ChatItem[] {
  const items = messages.map(toItem);
  return items.filter((m, i) => !(m.role === 'assistant' && items[i + 1]?.role === 'assistant'));
}

/** Settings seeded from a model's constraints (system prompt kept). */
export function settingsFromConstraints(c: ModelConstraints | null, prev: ChatSettings): ChatSettings {
  const d = (c?.request_defaults ?? {}) as Record<string, unknown>;
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const limit = c?.max_model_len ?? c?.context_size ?? null;
  let maxTokens = num(c?.max_tokens_default, num(d.max_tokens, DEFAULT_SETTINGS.maxTokens));
  if (limit && maxTokens > limit) maxTokens = Math.max(1, Math.floor(limit / 2));
  return {
    systemPrompt: prev.systemPrompt,
    temperature: num(d.temperature, DEFAULT_SETTINGS.temperature),
    topP: num(d.top_p, DEFAULT_SETTINGS.topP),
    maxTokens,
  };
}

export function userTurns(items: ChatItem[]): number {
  return items.filter((m) => m.role === 'user').length;
}

/** The answer of a turn that failed before its first token (the server records it, empty). */
export function isFailedAnswer(m: ChatItem | undefined): boolean {
  return !!m && m.role === 'assistant' && !m.content && (m.metrics?.status === 'error' || m.localStatus === 'error');
}
