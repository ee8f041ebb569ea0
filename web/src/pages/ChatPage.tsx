import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import {
  ChatInput,
  ChatSettingsPanel,
  ChatSidebar,
  MessageList,
  ModelSelector,
  PerformanceMetrics,
} from '../components/chat';
import { InspectorPanel, MessageInspector } from '../components/inspect';
import { DEFAULT_SETTINGS, isFailedAnswer, settingsFromConstraints, type ChatItem } from '../hooks/chatState';
import { useChat } from '../hooks/useChat';
import { useContextCount } from '../hooks/useContextCount';
import { useInspector } from '../hooks/useInspector';
import { useRunningModels } from '../hooks/useRunningModels';
import { useSessions } from '../hooks/useSessions';
import { chatToJson, chatToMarkdown, downloadText, exportFilename, type ExportChat } from '../lib/export';

export function ChatPage() {
  const params = useParams();
  const routeId = params.id ?? null;
  const navigate = useNavigate();
  const sessions = useSessions();
  const running = useRunningModels();
  const [sidebarOpen, setSidebarOpen] = useState(false);

  const chatRef = useRef<ReturnType<typeof useChat> | null>(null);
  const extrasRef = useRef<() => Record<string, unknown>>(() => ({}));
  const chat = useChat({
    requestExtras: () => extrasRef.current(),
    routeSessionId: routeId,
    onSessionCreated: (s) => {
      sessions.touch({ ...s, message_count: s.message_count ?? 0 });
      navigate(`/chat/${encodeURIComponent(s.id)}`);
    },
    onActivity: (sid) => {
      const c = chatRef.current;
      sessions.touch({
        id: sid,
        updated_at: new Date().toISOString(),
        ...(c?.title ? { title: c.title } : {}),
        ...(c?.model ? { model_name: c.model } : {}),
      });
    },
  });
  chatRef.current = chat;
  const inspector = useInspector(chat.sessionId);
  extrasRef.current = inspector.requestExtras;

  const { model, setModel, locked, constraints, settings } = chat;

  // Escape closes the chat history drawer (narrow screens); focus moves into it when it opens.
  useEffect(() => {
    if (!sidebarOpen) return;
    const first = document.querySelector<HTMLElement>('#chat-sidebar [data-testid="new-chat"]');
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setSidebarOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [sidebarOpen]);

  // Keep the selection on a running model while the chat is not locked.
  useEffect(() => {
    if (locked || !running.loaded) return;
    const names = running.models.map((m) => m.served_model_name);
    if (model && names.includes(model)) return;
    setModel(names[0] ?? '');
  }, [running.models, running.loaded, locked, model, setModel]);

  const supportsSystem = constraints ? constraints.supports_system_prompt !== false : true;
  const hasSystemMessage = chat.messages.some((m) => m.role === 'system');
  const ctx = useContextCount({
    model,
    systemPrompt: !hasSystemMessage && supportsSystem ? settings.systemPrompt : '',
    history: chat.messages,
    draft: chat.draft,
    streamingText: chat.streaming?.content ?? '',
    isStreaming: chat.isStreaming,
  });
  const runningModel = running.models.find((m) => m.served_model_name === model);
  const contextLimit =
    constraints?.max_model_len ?? constraints?.context_size ?? ctx.tokenizerLimit ?? runningModel?.max_model_len ?? null;

  const lastServerMetrics = useMemo(() => {
    for (let i = chat.messages.length - 1; i >= 0; i--) {
      const m = chat.messages[i];
      if (m.role === 'assistant') return m.metrics ?? null;
    }
    return null;
  }, [chat.messages]);

  const lastMessage = chat.messages[chat.messages.length - 1];
  const canRetry =
    !chat.isStreaming && !!chat.sessionId && (lastMessage?.role === 'user' || isFailedAnswer(lastMessage));

  const disabledReason = !model
    ? running.loaded && running.models.length === 0
      ? 'No models running.'
      : 'Select a model first.'
    : chat.loadingSession
      ? 'Loading chat…'
      : null;

  const onNewChat = useCallback(() => {
    chatRef.current?.newChat();
    navigate('/chat');
    setSidebarOpen(false);
  }, [navigate]);

  const onSelect = useCallback(
    (id: string) => {
      navigate(`/chat/${encodeURIComponent(id)}`);
      setSidebarOpen(false);
    },
    [navigate],
  );

  const { remove: removeSession, clearAll: clearAllSessions, loadMore } = sessions;
  const onDelete = useCallback(
    async (id: string) => {
      await removeSession(id);
      if (chatRef.current?.sessionId === id) {
        chatRef.current.newChat();
        navigate('/chat');
      }
    },
    [removeSession, navigate],
  );

  const onClearAll = useCallback(async () => {
    await clearAllSessions();
    chatRef.current?.newChat();
    navigate('/chat');
  }, [clearAllSessions, navigate]);

  const onLoadMore = useCallback(() => void loadMore(), [loadMore]);
  const onCloseSidebar = useCallback(() => setSidebarOpen(false), []);

  const { schema: inspectSchema, tools: inspectTools, settings: inspectSettings } = inspector;
  const checkSchema = inspectSettings.askSchema ? inspectSchema : null;
  const { answerToolCall } = chat;
  const renderInspector = useCallback(
    (m: ChatItem, isLast: boolean) => (
      <MessageInspector
        message={m}
        sessionId={chat.sessionId}
        model={model}
        schema={checkSchema}
        tools={inspectTools}
        isLast={isLast}
        onToolAnswer={(id, content) => void answerToolCall(id, content)}
      />
    ),
    [chat.sessionId, model, checkSchema, inspectTools, answerToolCall],
  );
  const lastUserText = useMemo(() => {
    for (let i = chat.messages.length - 1; i >= 0; i--) if (chat.messages[i].role === 'user') return chat.messages[i].content;
    return '';
  }, [chat.messages]);

  const exportChat = (kind: 'md' | 'json') => {
    const data: ExportChat = {
      id: chat.sessionId,
      title: chat.title,
      model,
      messages: chat.messages.map((m) => ({
        role: m.role,
        content: m.content,
        metrics_json: m.metrics ?? null,
        created_at: m.created_at ?? null,
      })),
    };
    if (kind === 'md') downloadText(exportFilename(data, 'md'), chatToMarkdown(data), 'text/markdown;charset=utf-8');
    else downloadText(exportFilename(data, 'json'), chatToJson(data), 'application/json;charset=utf-8');
  };

  return (
    <div className="chat-page">
      <button
        type="button"
        className="skip-link"
        onClick={() => document.querySelector<HTMLTextAreaElement>('#chat-input')?.focus()}
      >
        Skip to message input
      </button>
      <ChatSidebar
        sessions={sessions.sessions}
        activeId={chat.sessionId}
        loading={sessions.loading}
        loadingMore={sessions.loadingMore}
        error={sessions.error}
        hasMore={!!sessions.nextCursor}
        open={sidebarOpen}
        onNewChat={onNewChat}
        onSelect={onSelect}
        onDelete={onDelete}
        onClearAll={onClearAll}
        onLoadMore={onLoadMore}
        onClose={onCloseSidebar}
      />
      {sidebarOpen && <div className="backdrop" onClick={() => setSidebarOpen(false)} aria-hidden="true" />}
      <section className="chat-main" aria-label="Chat">
        <header className="chat-header">
          <button
            type="button"
            className="btn btn-small chat-history-toggle"
            aria-expanded={sidebarOpen}
            aria-controls="chat-sidebar"
            onClick={() => setSidebarOpen((o) => !o)}
          >
            Chats
          </button>
          <div className="chat-heading">
            <h1>Chat Playground</h1>
            {chat.title && <span className="chat-title" title={chat.title}>{chat.title}</span>}
          </div>
          <div className="chat-header-actions">
            <button
              type="button"
              className="btn btn-small"
              onClick={() => exportChat('md')}
              disabled={chat.messages.length === 0}
            >
              Export Markdown
            </button>
            <button
              type="button"
              className="btn btn-small"
              onClick={() => exportChat('json')}
              disabled={chat.messages.length === 0}
            >
              Export JSON
            </button>
          </div>
        </header>

        <div className="chat-toolbar">
          <ModelSelector
            models={running.models}
            loaded={running.loaded}
            error={running.error}
            value={model}
            onChange={setModel}
            locked={locked}
          />
          <PerformanceMetrics live={chat.live} isStreaming={chat.isStreaming} lastServerMetrics={lastServerMetrics} />
        </div>
        {model && (chat.messages.length > 0 || chat.isStreaming) && (
          <div className="banner banner-warn" id="model-lock-banner" data-testid="model-lock-banner" role="status">
            Model locked to <strong>{model}</strong> for this chat. Start a new chat to use a different model.
          </div>
        )}
        {chat.constraintsError && model && !constraints && (
          <div className="banner banner-info" role="status">
            Could not read the limits of {model}: {chat.constraintsError}
          </div>
        )}

        <MessageList
          messages={chat.messages}
          streaming={chat.streaming}
          isStreaming={chat.isStreaming}
          loading={chat.loadingSession}
          onRegenerate={() => void chat.regenerate()}
          renderInspector={renderInspector}
          emptyHint={
            <div className="empty-chat">
              <p className="empty-title">Start a conversation</p>
              <p className="muted">
                Pick a running model, type a message and press Enter. Shift+Enter adds a new line.
              </p>
            </div>
          }
        />

        <div className="chat-bottom">
          <ChatSettingsPanel
            settings={settings}
            onChange={chat.setSettings}
            onReset={() =>
              chat.setSettings(settingsFromConstraints(constraints, { ...DEFAULT_SETTINGS, systemPrompt: settings.systemPrompt }))
            }
            constraints={constraints}
            locked={chat.messages.length > 0}
            contextLimit={contextLimit}
          />
          <InspectorPanel
            inspector={inspector}
            model={model}
            sessionId={chat.sessionId}
            chatSettings={settings}
            batchPrompt={chat.draft.trim() ? chat.draft : lastUserText}
            promptTokens={ctx.count}
            promptExact={ctx.exact}
            promptMessages={() => [
              ...(!hasSystemMessage && supportsSystem && settings.systemPrompt.trim()
                ? [{ role: 'system', content: settings.systemPrompt }]
                : []),
              ...chat.messages
                .filter((m) => m.content.trim() && m.role !== 'tool')
                .map((m) => ({ role: m.role, content: m.content })),
              ...(chat.draft.trim() ? [{ role: 'user', content: chat.draft }] : []),
            ]}
            onApplyPreset={(p) =>
              chat.setSettings({
                systemPrompt: chat.messages.length > 0 ? settings.systemPrompt : p.system_prompt ?? '',
                temperature: p.temperature ?? settings.temperature,
                topP: p.top_p ?? settings.topP,
                maxTokens: p.max_tokens ?? settings.maxTokens,
              })
            }
          />
          <ChatInput
            draft={chat.draft}
            onDraftChange={chat.setDraft}
            onSend={() => void chat.send()}
            onStop={chat.stop}
            isStreaming={chat.isStreaming}
            stopping={chat.stopping}
            disabledReason={disabledReason}
            contextCount={ctx.count}
            contextLimit={contextLimit}
            contextExact={ctx.exact}
            maxTokens={settings.maxTokens}
            error={chat.error}
            onDismissError={() => chat.setError(null)}
            onRetry={
              canRetry
                ? () => {
                    if (chat.draft === lastMessage?.content) chat.setDraft('');
                    void chat.regenerate();
                  }
                : null
            }
          />
        </div>
      </section>
    </div>
  );
}

export default ChatPage;
