import { useEffect, useRef, type KeyboardEvent } from 'react';
import { contextLevel, formatContextLine, usageRatio } from '../../lib/context';
import { formatInt, formatPercent } from '../../lib/format';

interface Props {
  draft: string;
  onDraftChange: (text: string) => void;
  onSend: () => void;
  onStop: () => void;
  isStreaming: boolean;
  /** Stop was pressed; the gateway is ending the stream. */
  stopping?: boolean;
  /** Why sending is impossible right now (no model, loading, ...); null when it is possible. */
  disabledReason: string | null;
  contextCount: number;
  contextLimit: number | null;
  contextExact: boolean;
  maxTokens: number;
  error: string | null;
  onDismissError: () => void;
  onRetry?: (() => void) | null;
}

export function ChatInput(props: Props) {
  const {
    draft,
    onDraftChange,
    onSend,
    onStop,
    isStreaming,
    stopping = false,
    disabledReason,
    contextCount,
    contextLimit,
    contextExact,
    maxTokens,
    error,
    onDismissError,
    onRetry,
  } = props;
  const taRef = useRef<HTMLTextAreaElement>(null);
  const level = contextLevel(contextCount, contextLimit, maxTokens);
  const blocked = level === 'over';
  const canSend = !isStreaming && !disabledReason && !blocked && draft.trim().length > 0;

  // Grow the textarea with its content (up to a limit set in CSS).
  useEffect(() => {
    const ta = taRef.current;
    if (!ta) return;
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight + 2, 240)}px`;
  }, [draft]);

  // Focus the input again once an answer has finished.
  const wasStreaming = useRef(isStreaming);
  useEffect(() => {
    if (wasStreaming.current && !isStreaming) taRef.current?.focus();
    wasStreaming.current = isStreaming;
  }, [isStreaming]);

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      if (canSend) onSend();
    }
  };

  const ratio = usageRatio(contextCount, contextLimit);
  const contextText = formatContextLine(contextCount, contextLimit, contextExact);

  return (
    <div className="chat-input">
      {error && (
        <div className="chat-error" data-testid="chat-error" role="alert">
          <span className="chat-error-text">{error}</span>
          <span className="chat-error-actions">
            {onRetry && (
              <button type="button" className="btn btn-small" onClick={onRetry}>
                Retry
              </button>
            )}
            <button type="button" className="btn btn-small btn-ghost" onClick={onDismissError} aria-label="Dismiss error">
              Dismiss
            </button>
          </span>
        </div>
      )}
      <form
        className="chat-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (canSend) onSend();
        }}
      >
        <textarea
          ref={taRef}
          id="chat-input"
          className="chat-textarea"
          placeholder="Type a message..."
          aria-label="Message"
          rows={2}
          value={draft}
          onChange={(e) => onDraftChange(e.target.value)}
          onKeyDown={onKeyDown}
          aria-describedby="context-line"
        />
        {isStreaming ? (
          <button type="button" className="btn btn-stop" data-testid="stop-button" onClick={onStop} disabled={stopping}>
            {stopping ? 'Stopping…' : 'Stop'}
          </button>
        ) : (
          <button
            type="submit"
            className="btn btn-primary"
            data-testid="send-button"
            disabled={!canSend}
            title={disabledReason ?? (blocked ? 'The conversation does not fit the context window' : undefined)}
          >
            Send
          </button>
        )}
      </form>
      <div className={`context context-${level}`}>
        <div className="context-bar" aria-hidden="true">
          <div className="context-bar-fill" style={{ width: `${(ratio * 100).toFixed(1)}%` }} />
        </div>
        <span id="context-line" data-testid="context-line" className="context-line">
          {contextText}
        </span>
        {level === 'warn' && (
          <span className="context-warning" role="status">
            ⚠ Context window almost full ({formatPercent(ratio, 0)}). Consider starting a new chat.
          </span>
        )}
        {level === 'over' && contextLimit && (
          <span className="context-warning context-over" role="alert">
            ⚠ Too long for this model: {formatInt(contextCount)} prompt tokens + {formatInt(maxTokens)} max tokens
            exceeds the {formatInt(contextLimit)}-token context. Shorten the message, lower Max tokens in Chat
            settings, or start a new chat.
          </span>
        )}
        {disabledReason && !isStreaming && <span className="hint">{disabledReason}</span>}
      </div>
    </div>
  );
}

export default ChatInput;
