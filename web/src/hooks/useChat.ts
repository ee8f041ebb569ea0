// Chat state: the open session, its messages, the model and its constraints, settings, streaming.
// The state and its pure reducer live in chatState.ts; this hook does the I/O and dispatches.

import { useCallback, useEffect, useReducer, useRef } from 'react';
import { ApiError } from '../lib/api';
import { createSession, getSession, titleFromMessage } from '../lib/chat-api';
import { stopCompletion, streamChat } from '../lib/chat-client';
import { LiveMetrics } from '../lib/metrics';
import { parseJsonField, type ModelConstraints, type Session } from '../lib/types';
import {
  chatReducer,
  conversationItems,
  initialChatState,
  isFailedAnswer,
  userTurns,
  type ChatAction,
  type ChatItem,
  type ChatSettings,
  type ChatState,
} from './chatState';
import {
  cancelRaf,
  constraintsOf,
  emptyTurnResult,
  failedBeforeContent,
  failTurn,
  localKey,
  raf,
  readAnswer,
  requestMessages,
  saveSystemPrompt,
  sleep,
  storedModel,
  storeModel,
  turnEnded,
} from './chatTurn';

/** After Stop, how long the gateway gets to end the stream cleanly before the request is aborted. */
export const STOP_GRACE_MS = 3000;

export interface UseChatOptions {
  /** Session id from the route (/chat/:id); null for a new chat. */
  routeSessionId: string | null;
  /** A new session was created by the first send. */
  onSessionCreated?: (s: Session) => void;
  /** A turn finished in this session (sidebar ordering). */
  onActivity?: (sessionId: string) => void;
  /** The route's session does not exist. */
  onNotFound?: () => void;
  /** Fields every completion request adds to its body (the inspector's logprobs, seed, schema, tools). */
  requestExtras?: () => Record<string, unknown>;
}

export function useChat(opts: UseChatOptions) {
  const { routeSessionId } = opts;
  const optsRef = useRef(opts);
  optsRef.current = opts;

  const [state, applyAction] = useReducer(chatReducer, undefined, () => initialChatState(storedModel()));
  // Callbacks read the latest state at once (a stream's events arrive between renders), so the
  // ref follows every action, not only the rendered ones; the reducer is pure, so both agree.
  const stateRef = useRef<ChatState>(state);
  const dispatch = useCallback((action: ChatAction) => {
    stateRef.current = chatReducer(stateRef.current, action);
    applyAction(action);
  }, []);
  const { model, settings, constraints } = state;

  const sessionConstraintsRef = useRef<ModelConstraints | null>(null);
  const abortRef = useRef<AbortController | null>(null);
  /** The running completion's id (X-Cortex-Completion-Id), for a clean server-side stop. */
  const completionIdRef = useRef<string | null>(null);
  const stopTimerRef = useRef<number | null>(null);
  const genRef = useRef(0);
  /** Incremented by every turn: a late re-read from the server must not clobber a newer turn. */
  const turnRef = useRef(0);
  const rafRef = useRef<number | null>(null);

  const abortStream = useCallback(() => {
    abortRef.current?.abort();
    abortRef.current = null;
  }, []);

  // ---- constraints of the selected model -------------------------------------------------------
  useEffect(() => {
    const ctrl = new AbortController();
    void constraintsOf(model, sessionConstraintsRef.current, ctrl.signal).then((action) => {
      if (!ctrl.signal.aborted) dispatch(action);
    });
    return () => ctrl.abort();
  }, [model, dispatch]);

  const locked = state.messages.length > 0 || state.isStreaming || state.loadingSession;

  const setModel = useCallback(
    (name: string) => {
      const current = stateRef.current;
      if (current.messages.length > 0 || current.isStreaming) return; // model lock
      dispatch({ type: 'modelSelected', model: name });
      storeModel(name);
    },
    [dispatch],
  );

  // ---- session switching ------------------------------------------------------------------------
  const resetToNew = useCallback(() => {
    genRef.current++;
    abortStream();
    sessionConstraintsRef.current = null;
    dispatch({ type: 'newChat' });
  }, [abortStream, dispatch]);

  /**
   * Re-read the session from the server (after a stop or a failed send). With `expectAssistant`,
   * retry a few times until the gateway has saved the (partial) answer. Returns what it showed,
   * or null when it could not (or should not, the chat having moved on) update the view.
   */
  const syncFromServer = useCallback(
    async (id: string, gen: number, expectAssistant: boolean, localPartial = ''): Promise<ChatItem[] | null> => {
      const delays = expectAssistant ? [300, 700, 1500, 3000] : [0];
      const turn = turnRef.current;
      const stale = () => gen !== genRef.current || stateRef.current.isStreaming || turn !== turnRef.current;
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
        dispatch({ type: 'synced', messages: items, title: s.title });
        return items;
      }
      return null;
    },
    [dispatch],
  );

  const loadSession = useCallback(
    async (id: string) => {
      const gen = ++genRef.current;
      abortStream();
      dispatch({ type: 'loadStarted', sessionId: id });
      try {
        const s = await getSession(id);
        if (gen !== genRef.current) return;
        const sc = parseJsonField<ModelConstraints>(s.constraints_json);
        sessionConstraintsRef.current =
          sc && typeof sc === 'object' ? { ...sc, served_model_name: s.model_name } : null;
        dispatch({ type: 'loaded', session: s });
        // Opened in the middle of an answer (a reload, another device): the gateway records the
        // answer when its stream ends, so look again shortly.
        if (s.messages[s.messages.length - 1]?.role === 'user') void syncFromServer(id, gen, true);
      } catch (e) {
        if (gen !== genRef.current) return;
        const notFound = e instanceof ApiError && e.status === 404;
        const error = notFound
          ? 'This chat does not exist (or belongs to another user).'
          : e instanceof Error
            ? `Could not load this chat: ${e.message}`
            : 'Could not load this chat.';
        dispatch({ type: 'errorChanged', error });
        if (notFound) optsRef.current.onNotFound?.();
      } finally {
        if (gen === genRef.current) dispatch({ type: 'loadEnded' });
      }
    },
    [abortStream, dispatch, syncFromServer],
  );

  useEffect(() => {
    const target = routeSessionId ?? null;
    if (target === stateRef.current.sessionId) return;
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
      /** `userText` answers this tool call (a `tool` message) instead of being the user's turn. */
      toolCallId?: string;
    }) => {
      if (stateRef.current.isStreaming) return;
      const modelName = model;
      turnRef.current++;
      const metrics = new LiveMetrics();
      metrics.start();
      const gen = genRef.current;
      const controller = new AbortController();
      abortRef.current = controller;
      completionIdRef.current = null;

      const userItem: ChatItem | null =
        turn.userText === null
          ? null
          : turn.toolCallId !== undefined
            ? { key: localKey(), role: 'tool', content: turn.userText, metrics: { tool_call_id: turn.toolCallId } }
            : { key: localKey(), role: 'user', content: turn.userText };
      const assistantKey = localKey();
      dispatch({ type: 'turnStarted', userItem, assistantKey, live: metrics.snapshot() });
      const result = emptyTurnResult();

      const flush = () => {
        rafRef.current = null;
        if (gen !== genRef.current) return;
        dispatch({ type: 'streamed', content: result.content, live: metrics.snapshot() });
      };
      const scheduleFlush = () => {
        if (rafRef.current === null) rafRef.current = raf(flush);
      };

      let sid = stateRef.current.sessionId;
      let systemItem: ChatItem | null = null;
      try {
        if (!sid) {
          const s = await createSession(modelName, titleFromMessage(turn.userText ?? ''));
          if (gen !== genRef.current) {
            controller.abort();
            return;
          }
          sid = s.id;
          dispatch({ type: 'sessionCreated', sessionId: sid, title: s.title ?? titleFromMessage(turn.userText ?? '') });
          optsRef.current.onSessionCreated?.(s);
          if (settings.systemPrompt.trim() && constraints?.supports_system_prompt !== false) {
            systemItem = await saveSystemPrompt(sid, settings.systemPrompt);
            dispatch({ type: 'messageAdded', item: systemItem, first: true });
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
          extra: optsRef.current.requestExtras?.(),
          sessionId: sid,
          regenerate: turn.regenerate,
          signal: controller.signal,
          onCompletionId: (id) => {
            completionIdRef.current = id;
          },
        });
        await readAnswer(stream, result, metrics, scheduleFlush);
      } catch (e) {
        failTurn(result, e, controller.signal);
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
        dispatch({ type: 'streamClosed' });
      }
      if (gen !== genRef.current) return; // the user switched chats meanwhile

      dispatch(turnEnded(result, assistantKey, metrics.snapshot()));
      if (failedBeforeContent(result)) {
        // The chat shows what the server saved. If the gateway recorded the user's message before
        // the failure, it stays in the chat (with the failed answer; Retry regenerates it);
        // otherwise the text goes back into the message box.
        const saved = sid ? await syncFromServer(sid, gen, false) : null;
        if (gen !== genRef.current) return;
        const recorded =
          saved !== null && turn.userText !== null && userTurns(saved) > userTurns(turn.history);
        if (saved === null) {
          if (userItem) dispatch({ type: 'messageRemoved', key: userItem.key });
          if (turn.removed) dispatch({ type: 'messageAdded', item: turn.removed });
        }
        if (turn.userText !== null && turn.toolCallId === undefined && !recorded) dispatch({ type: 'draftRestored', draft: turn.userText });
        return;
      }
      if (sid) {
        optsRef.current.onActivity?.(sid);
        // Stopped, or no cortex.metrics event (older gateway, error): pick up the stored answer.
        if (result.aborted || !result.serverMetrics) void syncFromServer(sid, gen, true, result.content);
      }
    },
    [model, settings, constraints, dispatch, syncFromServer],
  );

  // ---- public actions ---------------------------------------------------------------------------
  const send = useCallback(
    async (textArg?: string) => {
      const current = stateRef.current;
      const text = textArg ?? current.draft;
      if (!text.trim() || current.isStreaming) return;
      if (!model) {
        dispatch({ type: 'errorChanged', error: 'Select a running model first.' });
        return;
      }
      dispatch({ type: 'draftChanged', draft: '' });
      const msgs = current.messages;
      const withoutFailed = isFailedAnswer(msgs[msgs.length - 1]) ? msgs.slice(0, -1) : msgs;
      const last = withoutFailed[withoutFailed.length - 1];
      if (last && last.role === 'user' && last.content === text && current.sessionId) {
        // The gateway already recorded this message on a failed attempt: resend without recording it twice.
        const removed = withoutFailed === msgs ? null : msgs[msgs.length - 1];
        dispatch({ type: 'messagesReplaced', messages: withoutFailed });
        await runTurn({ history: withoutFailed, userText: null, regenerate: true, removed });
        return;
      }
      await runTurn({ history: msgs, userText: text, regenerate: false });
    },
    [model, runTurn, dispatch],
  );

  /** Answer the last message's tool call by hand: a `tool` message, and the model goes on. */
  const answerToolCall = useCallback(
    async (callId: string, content: string) => {
      const current = stateRef.current;
      if (!content.trim() || current.isStreaming || !current.sessionId) return;
      await runTurn({ history: current.messages, userText: content, regenerate: false, toolCallId: callId });
    },
    [runTurn],
  );

  /** Resend the history without the last assistant answer (X-Chat-Regenerate: true). */
  const regenerate = useCallback(async () => {
    const current = stateRef.current;
    if (current.isStreaming) return;
    const msgs = current.messages;
    if (!msgs.length || !current.sessionId) return;
    let history = msgs;
    let removed: ChatItem | null = null;
    if (msgs[msgs.length - 1].role === 'assistant') {
      removed = msgs[msgs.length - 1];
      history = msgs.slice(0, -1);
    }
    if (!history.length || history[history.length - 1].role !== 'user') return;
    dispatch({ type: 'messagesReplaced', messages: history });
    await runTurn({ history, userText: null, regenerate: true, removed });
  }, [runTurn, dispatch]);

  /**
   * Stop the answer: ask the gateway to end the stream (it saves the partial answer with status
   * `stopped` and sends the final metrics); abort the request if that fails or takes too long.
   */
  const stop = useCallback(() => {
    const controller = abortRef.current;
    if (!controller) return;
    dispatch({ type: 'stopRequested' });
    const completionId = completionIdRef.current;
    if (!completionId) {
      controller.abort();
      return;
    }
    stopTimerRef.current = window.setTimeout(() => controller.abort(), STOP_GRACE_MS);
    void stopCompletion(completionId).then((stopped) => {
      if (!stopped) controller.abort();
    });
  }, [dispatch]);

  const reload = useCallback(() => {
    const id = stateRef.current.sessionId;
    if (id) void loadSession(id);
  }, [loadSession]);

  const setError = useCallback((error: string | null) => dispatch({ type: 'errorChanged', error }), [dispatch]);
  const setSettings = useCallback(
    (next: ChatSettings) => dispatch({ type: 'settingsChanged', settings: next }),
    [dispatch],
  );
  const setDraft = useCallback((draft: string) => dispatch({ type: 'draftChanged', draft }), [dispatch]);

  const actions = { setModel, setError, setSettings, setDraft, send, stop, regenerate, reload, answerToolCall };
  return { ...state, locked, ...actions, newChat: resetToNew };
}
