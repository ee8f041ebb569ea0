// Chat state: the open session, its messages, the model and its constraints, settings, streaming.

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, isAbortError } from '../lib/api';
import { addMessage, createSession, getSession, titleFromMessage } from '../lib/chat-api';
import { getConstraints, stopCompletion, streamChat, type ChatRequestMessage } from '../lib/chat-client';
import { LiveMetrics, type MetricsSnapshot } from '../lib/metrics';
import {
  parseJsonField,
  parseMetrics,
  type Message,
  type ModelConstraints,
  type Role,
  type ServerMetrics,
  type Session,
} from '../lib/types';

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
const MODEL_STORAGE_KEY = 'cortex.chat.model';
/** After Stop, how long the gateway gets to end the stream cleanly before the request is aborted. */
export const STOP_GRACE_MS = 3000;

let localCounter = 0;
const localKey = () => `local-${Date.now().toString(36)}-${++localCounter}`;

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

function userTurns(items: ChatItem[]): number {
  return items.filter((m) => m.role === 'user').length;
}

/** The answer of a turn that failed before its first token (the server records it, empty). */
export function isFailedAnswer(m: ChatItem | undefined): boolean {
  return !!m && m.role === 'assistant' && !m.content && (m.metrics?.status === 'error' || m.localStatus === 'error');
}

/** The `messages` array sent upstream: non-empty turns, in order. */
export function requestMessages(items: ChatItem[]): ChatRequestMessage[] {
  return items
    .filter((m) => m.content.trim() !== '' && (m.role === 'user' || m.role === 'assistant' || m.role === 'system'))
    .map((m) => ({ role: m.role, content: m.content }));
}

function friendlyError(e: ApiError): string {
  if (e.status === 0) return `${e.message} Check your connection and try again.`;
  if (e.status === 503) return `The model is unavailable (503): ${e.message}`;
  if (e.status === 409) return e.message;
  if (e.status === 429) return `Too many requests: ${e.message}`;
  return e.message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const raf: (cb: () => void) => number =
  typeof requestAnimationFrame === 'function'
    ? (cb) => requestAnimationFrame(cb)
    : (cb) => setTimeout(cb, 16) as unknown as number;
const cancelRaf: (id: number) => void =
  typeof cancelAnimationFrame === 'function' ? (id) => cancelAnimationFrame(id) : (id) => clearTimeout(id);

export interface UseChatOptions {
  /** Session id from the route (/chat/:id); null for a new chat. */
  routeSessionId: string | null;
  /** A new session was created by the first send. */
  onSessionCreated?: (s: Session) => void;
  /** A turn finished in this session (sidebar ordering). */
  onActivity?: (sessionId: string) => void;
  /** The route's session does not exist. */
  onNotFound?: () => void;
}

export function useChat(opts: UseChatOptions) {
  const { routeSessionId } = opts;
  const optsRef = useRef(opts);
  optsRef.current = opts;

  const [sessionId, setSessionId] = useState<string | null>(null);
  const sessionIdRef = useRef<string | null>(null);
  const [title, setTitle] = useState<string | null>(null);
  const [messages, setMessagesState] = useState<ChatItem[]>([]);
  const messagesRef = useRef<ChatItem[]>([]);
  const [streaming, setStreaming] = useState<StreamingMessage | null>(null);
  const [isStreaming, setIsStreaming] = useState(false);
  const isStreamingRef = useRef(false);
  const [live, setLive] = useState<MetricsSnapshot | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingSession, setLoadingSession] = useState(false);
  const [model, setModelState] = useState<string>(() => {
    try {
      return localStorage.getItem(MODEL_STORAGE_KEY) ?? '';
    } catch {
      return '';
    }
  });
  const [constraints, setConstraints] = useState<ModelConstraints | null>(null);
  const sessionConstraintsRef = useRef<ModelConstraints | null>(null);
  const [constraintsError, setConstraintsError] = useState<string | null>(null);
  const [settings, setSettings] = useState<ChatSettings>(DEFAULT_SETTINGS);
  const [draft, setDraft] = useState('');

  const abortRef = useRef<AbortController | null>(null);
  /** The running completion's id (X-Cortex-Completion-Id), for a clean server-side stop. */
  const completionIdRef = useRef<string | null>(null);
  const [stopping, setStopping] = useState(false);
  const stopTimerRef = useRef<number | null>(null);
  const genRef = useRef(0);
  /** Incremented by every turn: a late re-read from the server must not clobber a newer turn. */
  const turnRef = useRef(0);
  const rafRef = useRef<number | null>(null);

  const setMessages = useCallback((next: ChatItem[] | ((prev: ChatItem[]) => ChatItem[])) => {
    const value = typeof next === 'function' ? next(messagesRef.current) : next;
    messagesRef.current = value;
    setMessagesState(value);
  }, []);

  const abortStream = useCallback(() => {
    abortRef.current?.abort();
    abortRef.current = null;
  }, []);

  // ---- constraints of the selected model -------------------------------------------------------
  useEffect(() => {
    if (!model) {
      setConstraints(null);
      setConstraintsError(null);
      return;
    }
    const ctrl = new AbortController();
    getConstraints(model, ctrl.signal)
      .then((c) => {
        if (ctrl.signal.aborted) return;
        setConstraints(c);
        setConstraintsError(null);
        setSettings((prev) => settingsFromConstraints(c, prev));
      })
      .catch((e) => {
        if (ctrl.signal.aborted) return;
        const fallback = sessionConstraintsRef.current;
        if (fallback && fallback.served_model_name === model) {
          setConstraints(fallback);
          setSettings((prev) => settingsFromConstraints(fallback, prev));
        } else {
          setConstraints(null);
        }
        setConstraintsError(e instanceof Error ? e.message : 'Could not load model constraints.');
      });
    return () => ctrl.abort();
  }, [model]);

  const locked = messages.length > 0 || isStreaming || loadingSession;

  const setModel = useCallback((name: string) => {
    if (messagesRef.current.length > 0 || isStreamingRef.current) return; // model lock
    setModelState(name);
    try {
      if (name) localStorage.setItem(MODEL_STORAGE_KEY, name);
    } catch {
      /* storage unavailable */
    }
  }, []);

  // ---- session switching ------------------------------------------------------------------------
  const applySession = useCallback(
    (s: Session) => {
      const items = conversationItems(s.messages);
      setMessages(items);
      setTitle(s.title);
      const sc = parseJsonField<ModelConstraints>(s.constraints_json);
      sessionConstraintsRef.current = sc && typeof sc === 'object' ? { ...sc, served_model_name: s.model_name } : null;
      if (s.model_name) setModelState(s.model_name);
      const sys = items.find((m) => m.role === 'system');
      setSettings((prev) => ({ ...prev, systemPrompt: sys ? sys.content : '' }));
    },
    [setMessages],
  );

  const resetToNew = useCallback(() => {
    genRef.current++;
    abortStream();
    sessionIdRef.current = null;
    sessionConstraintsRef.current = null;
    setSessionId(null);
    setTitle(null);
    setMessages([]);
    setStreaming(null);
    setLive(null);
    setError(null);
    setLoadingSession(false);
    setSettings((prev) => ({ ...prev, systemPrompt: '' }));
  }, [abortStream, setMessages]);

  /**
   * Re-read the session from the server (after a stop or a failed send). With `expectAssistant`,
   * retry a few times until the gateway has saved the (partial) answer. Returns what it showed,
   * or null when it could not (or should not, the chat having moved on) update the view.
   */
  const syncFromServer = useCallback(
    async (id: string, gen: number, expectAssistant: boolean, localPartial = ''): Promise<ChatItem[] | null> => {
      const delays = expectAssistant ? [300, 700, 1500, 3000] : [0];
      const turn = turnRef.current;
      const stale = () => gen !== genRef.current || isStreamingRef.current || turn !== turnRef.current;
      for (const delay of delays) {
        if (delay) await sleep(delay);
        if (stale()) return null;
        let s: Session;
        try {
          s = await getSession(id);
        } catch {
          continue;
        }
        if (stale()) return null;
        const items = conversationItems(s.messages);
        const last = items[items.length - 1];
        if (expectAssistant && (!last || last.role !== 'assistant')) continue;
        if (last && last.role === 'assistant' && !last.content && localPartial) {
          // Never show less than what the user already saw.
          items[items.length - 1] = { ...last, content: localPartial };
        }
        setMessages(items);
        if (s.title) setTitle(s.title);
        return items;
      }
      return null;
    },
    [setMessages],
  );

  const loadSession = useCallback(
    async (id: string) => {
      const gen = ++genRef.current;
      abortStream();
      sessionIdRef.current = id;
      setSessionId(id);
      setTitle(null);
      setMessages([]);
      setStreaming(null);
      setLive(null);
      setError(null);
      setLoadingSession(true);
      try {
        const s = await getSession(id);
        if (gen !== genRef.current) return;
        applySession(s);
        // Opened in the middle of an answer (a reload, another device): the gateway records the
        // answer when its stream ends, so look again shortly.
        if (s.messages[s.messages.length - 1]?.role === 'user') void syncFromServer(id, gen, true);
      } catch (e) {
        if (gen !== genRef.current) return;
        if (e instanceof ApiError && e.status === 404) {
          setError('This chat does not exist (or belongs to another user).');
          optsRef.current.onNotFound?.();
        } else {
          setError(e instanceof Error ? `Could not load this chat: ${e.message}` : 'Could not load this chat.');
        }
      } finally {
        if (gen === genRef.current) setLoadingSession(false);
      }
    },
    [abortStream, applySession, setMessages, syncFromServer],
  );

  useEffect(() => {
    const target = routeSessionId ?? null;
    if (target === sessionIdRef.current) return;
    if (target === null) resetToNew();
    else void loadSession(target);
  }, [routeSessionId, loadSession, resetToNew]);

  // Abort a running stream when the page unmounts (the gateway saves the partial answer).
  useEffect(
    () => () => {
      genRef.current++;
      abortRef.current?.abort();
      if (rafRef.current !== null) cancelRaf(rafRef.current);
    },
    [],
  );

  // ---- one turn ---------------------------------------------------------------------------------
  const runTurn = useCallback(
    async (turn: {
      history: ChatItem[];
      userText: string | null;
      regenerate: boolean;
      removed?: ChatItem | null;
    }) => {
      if (isStreamingRef.current) return;
      const modelName = model;
      turnRef.current++;
      const metrics = new LiveMetrics();
      metrics.start();
      const gen = genRef.current;
      const controller = new AbortController();
      abortRef.current = controller;
      completionIdRef.current = null;
      isStreamingRef.current = true;
      setIsStreaming(true);
      setStopping(false);
      setError(null);
      setLive(metrics.snapshot());

      const userItem: ChatItem | null =
        turn.userText !== null ? { key: localKey(), role: 'user', content: turn.userText } : null;
      if (userItem) setMessages((prev) => [...prev, userItem]);
      const assistantKey = localKey();
      let content = '';
      setStreaming({ key: assistantKey, content: '' });

      const flush = () => {
        rafRef.current = null;
        if (gen !== genRef.current) return;
        setStreaming({ key: assistantKey, content });
        setLive(metrics.snapshot());
      };
      const scheduleFlush = () => {
        if (rafRef.current === null) rafRef.current = raf(flush);
      };

      let sid = sessionIdRef.current;
      let serverMetrics: ServerMetrics | null = null;
      let streamError: string | null = null;
      let failure: ApiError | null = null;
      let aborted = false;
      let systemItem: ChatItem | null = null;

      try {
        if (!sid) {
          const s = await createSession(modelName, titleFromMessage(turn.userText ?? ''));
          if (gen !== genRef.current) {
            controller.abort();
            return;
          }
          sid = s.id;
          sessionIdRef.current = sid;
          setSessionId(sid);
          setTitle(s.title ?? titleFromMessage(turn.userText ?? ''));
          optsRef.current.onSessionCreated?.(s);
          const sys = settings.systemPrompt.trim();
          if (sys && constraints?.supports_system_prompt !== false) {
            systemItem = { key: localKey(), role: 'system', content: settings.systemPrompt };
            try {
              const saved = await addMessage(sid, 'system', settings.systemPrompt);
              if (saved && saved.id !== undefined) systemItem = { ...systemItem, id: saved.id };
            } catch {
              /* not persisted; still sent with this turn */
            }
            const sysItem = systemItem;
            setMessages((prev) => [sysItem, ...prev]);
          }
        }
        const convo = [...(systemItem ? [systemItem] : []), ...turn.history, ...(userItem ? [userItem] : [])];
        // TTFT counts from the completion request (creating a new chat's session is not the model's time).
        metrics.start();
        const stream = streamChat({
          model: modelName,
          messages: requestMessages(convo),
          temperature: settings.temperature,
          top_p: settings.topP,
          max_tokens: settings.maxTokens,
          sessionId: sid,
          regenerate: turn.regenerate,
          signal: controller.signal,
          onCompletionId: (id) => {
            completionIdRef.current = id;
          },
        });
        for await (const ev of stream) {
          if (ev.type === 'delta') {
            content += ev.content;
            metrics.onDelta(ev.content);
            scheduleFlush();
          } else if (ev.type === 'usage') {
            metrics.onUsage(ev.usage.completion_tokens);
            scheduleFlush();
          } else if (ev.type === 'metrics') {
            serverMetrics = ev.metrics;
            if (typeof ev.metrics.completion_tokens === 'number') metrics.onUsage(ev.metrics.completion_tokens);
          } else if (ev.type === 'error') {
            streamError = ev.message;
          }
        }
      } catch (e) {
        if (controller.signal.aborted || isAbortError(e)) aborted = true;
        else if (e instanceof ApiError) failure = e;
        else failure = new ApiError(e instanceof Error ? e.message : 'The request failed.', 0);
      } finally {
        metrics.finish();
        if (rafRef.current !== null) {
          cancelRaf(rafRef.current);
          rafRef.current = null;
        }
        if (abortRef.current === controller) abortRef.current = null;
        completionIdRef.current = null;
        if (stopTimerRef.current !== null) window.clearTimeout(stopTimerRef.current);
        stopTimerRef.current = null;
        isStreamingRef.current = false;
        setIsStreaming(false);
        setStopping(false);
      }
      if (gen !== genRef.current) return; // the user switched chats meanwhile

      setStreaming(null);

      const failedBeforeContent = !content && !aborted && (failure !== null || streamError !== null);
      // Once the server's figures are in (or nothing was measured), the performance line shows the
      // last answer's server-measured figures, the same as its footer.
      setLive(failedBeforeContent || serverMetrics ? null : metrics.snapshot());
      if (failedBeforeContent) {
        setError(failure ? friendlyError(failure) : (streamError ?? 'The model returned an error.'));
        // The chat shows what the server saved. If the gateway recorded the user's message before
        // the failure, it stays in the chat (with the failed answer; Retry regenerates it);
        // otherwise the text goes back into the message box.
        const saved = sid ? await syncFromServer(sid, gen, false) : null;
        if (gen !== genRef.current) return;
        const recorded =
          saved !== null && turn.userText !== null && userTurns(saved) > userTurns(turn.history);
        if (saved === null) {
          if (userItem) setMessages((prev) => prev.filter((m) => m.key !== userItem.key));
          if (turn.removed) {
            const removed = turn.removed;
            setMessages((prev) => [...prev, removed]);
          }
        }
        if (turn.userText !== null && !recorded) {
          const text = turn.userText;
          setDraft((cur) => (cur.trim() ? cur : text));
        }
        return;
      }

      if (aborted) {
        if (content) {
          const partial: ChatItem = {
            key: assistantKey,
            role: 'assistant',
            content,
            metrics: serverMetrics,
            localStatus: 'stopped',
          };
          setMessages((prev) => [...prev, partial]);
        }
        if (sid) {
          optsRef.current.onActivity?.(sid);
          void syncFromServer(sid, gen, true, content);
        }
        return;
      }

      const finalItem: ChatItem = {
        key: assistantKey,
        role: 'assistant',
        content,
        metrics: serverMetrics,
        localStatus: streamError || failure ? 'error' : undefined,
        created_at: new Date().toISOString(),
      };
      setMessages((prev) => [...prev, finalItem]);
      if (streamError || failure) {
        setError(failure ? friendlyError(failure) : `The answer was cut short: ${streamError}`);
      }
      if (sid) {
        optsRef.current.onActivity?.(sid);
        // No cortex.metrics event (older gateway, error): pick up the stored metrics_json.
        if (!serverMetrics) void syncFromServer(sid, gen, true, content);
      }
    },
    [model, settings, constraints, setMessages, syncFromServer],
  );

  // ---- public actions ---------------------------------------------------------------------------
  const send = useCallback(
    async (textArg?: string) => {
      const text = textArg ?? draft;
      if (!text.trim() || isStreamingRef.current) return;
      if (!model) {
        setError('Select a running model first.');
        return;
      }
      setDraft('');
      const msgs = messagesRef.current;
      const withoutFailed = isFailedAnswer(msgs[msgs.length - 1]) ? msgs.slice(0, -1) : msgs;
      const last = withoutFailed[withoutFailed.length - 1];
      if (last && last.role === 'user' && last.content === text && sessionIdRef.current) {
        // The gateway already recorded this message on a failed attempt: resend without recording it twice.
        const removed = withoutFailed === msgs ? null : msgs[msgs.length - 1];
        setMessages(withoutFailed);
        await runTurn({ history: withoutFailed, userText: null, regenerate: true, removed });
        return;
      }
      await runTurn({ history: msgs, userText: text, regenerate: false });
    },
    [draft, model, runTurn, setMessages],
  );

  /** Resend the history without the last assistant answer (X-Chat-Regenerate: true). */
  const regenerate = useCallback(async () => {
    if (isStreamingRef.current) return;
    const msgs = messagesRef.current;
    if (!msgs.length || !sessionIdRef.current) return;
    let history = msgs;
    let removed: ChatItem | null = null;
    if (msgs[msgs.length - 1].role === 'assistant') {
      removed = msgs[msgs.length - 1];
      history = msgs.slice(0, -1);
    }
    if (!history.length || history[history.length - 1].role !== 'user') return;
    setMessages(history);
    await runTurn({ history, userText: null, regenerate: true, removed });
  }, [runTurn, setMessages]);

  /**
   * Stop the answer: ask the gateway to end the stream (it saves the partial answer with status
   * `stopped` and sends the final metrics); abort the request if that fails or takes too long.
   */
  const stop = useCallback(() => {
    const controller = abortRef.current;
    if (!controller) return;
    setStopping(true);
    const completionId = completionIdRef.current;
    if (!completionId) {
      controller.abort();
      return;
    }
    stopTimerRef.current = window.setTimeout(() => controller.abort(), STOP_GRACE_MS);
    void stopCompletion(completionId).then((stopped) => {
      if (!stopped) controller.abort();
    });
  }, []);

  const newChat = useCallback(() => {
    resetToNew();
  }, [resetToNew]);

  const reload = useCallback(() => {
    const id = sessionIdRef.current;
    if (id) void loadSession(id);
  }, [loadSession]);

  return {
    sessionId,
    title,
    messages,
    streaming,
    isStreaming,
    stopping,
    live,
    error,
    setError,
    loadingSession,
    model,
    setModel,
    locked,
    constraints,
    constraintsError,
    settings,
    setSettings,
    draft,
    setDraft,
    send,
    stop,
    regenerate,
    newChat,
    reload,
  };
}
