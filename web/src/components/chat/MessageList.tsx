import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { ChatItem, StreamingMessage } from '../../hooks/chatState';
import { copyText } from '../../lib/clipboard';
import { inspectOf } from '../../lib/inspect/types';
import { formatInt, formatMs, formatNumber } from '../../lib/format';
import type { ServerMetrics } from '../../lib/types';
import { MessageContent } from './MessageContent';
import { NearViewportContext, useNearWatcher } from './nearViewport';

const ROLE_LABEL: Record<string, string> = { user: 'You', assistant: 'Assistant', system: 'System', tool: 'Tool result' };
/** Messages further than this from the end render markdown only when scrolled near. */
const EAGER_TAIL = 30;
/**
 * Older messages are grouped in chunks that the browser skips while off screen
 * (`content-visibility: auto`): per message, it tracked a thousand elements on every frame.
 */
export const CHUNK_SIZE = 25;

export function metricsSummary(m: ServerMetrics): string {
  const parts: string[] = [];
  if (m.ttft_ms != null) parts.push(`TTFT: ${formatMs(m.ttft_ms)}`);
  if (m.decode_tokens_per_s != null) parts.push(`${formatNumber(m.decode_tokens_per_s, 1)} tok/s`);
  if (m.completion_tokens != null) parts.push(`Tokens: ${formatInt(m.completion_tokens)}`);
  if (m.status && m.status !== 'complete') parts.push(`Status: ${m.status}`);
  if (m.finish_reason === 'length') parts.push('cut at max tokens');
  if (m.status === 'error' && m.error) parts.push(`Error: ${m.error}`);
  return parts.join(' · ');
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'ok' | 'fail'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = window.setTimeout(() => setState('idle'), 1500);
    return () => window.clearTimeout(t);
  }, [state]);
  return (
    <button
      type="button"
      className="btn-link"
      aria-label={label}
      onClick={() => void copyText(text).then((ok) => setState(ok ? 'ok' : 'fail'))}
    >
      {state === 'ok' ? 'Copied' : state === 'fail' ? 'Copy failed' : 'Copy'}
    </button>
  );
}

interface ItemProps {
  message: ChatItem;
  streaming?: boolean;
  canRegenerate?: boolean;
  onRegenerate?: () => void;
  lazy?: boolean;
  /** Renders the inspector below a finished assistant message (components/inspect); a stable
   * function, so that a streaming answer does not re-render every message above it. */
  inspector?: (message: ChatItem, isLast: boolean) => React.ReactNode;
  isLast?: boolean;
}

const MessageItem = memo(function MessageItem({ message, streaming, canRegenerate, onRegenerate, lazy, inspector, isLast }: ItemProps) {
  const { role, content, metrics, localStatus } = message;
  const status = metrics?.status && metrics.status !== 'complete' ? metrics.status : localStatus;
  const extra = inspector && role === 'assistant' && !streaming ? inspector(message, !!isLast) : null;
  return (
    <article
      className={`message message-${role}${streaming ? ' message-streaming' : ''}`}
      data-testid="message"
      data-role={role}
      aria-busy={streaming || undefined}
    >
      <header className="message-head">
        <span className="message-role">{ROLE_LABEL[role] ?? role}</span>
        {status && !streaming && <span className={`badge badge-${status}`}>{status}</span>}
        {streaming && <span className="badge badge-live">generating…</span>}
      </header>
      {role === 'assistant' && streaming && !content ? (
        <div className="typing" aria-label="Waiting for the first token">
          <span />
          <span />
          <span />
        </div>
      ) : role === 'assistant' && !content ? (
        (inspectOf(metrics)?.tool_calls.length ?? 0) > 0 ? null : (
          <p className="muted no-answer">No text was generated.</p>
        )
      ) : (
        <MessageContent content={content} markdown={role !== 'user'} streaming={streaming} lazy={lazy} />
      )}
      {extra}
      {!streaming && (
        <footer className="message-foot">
          {role === 'assistant' && metrics && (
            <span className="message-metrics" data-testid="message-metrics">
              {metricsSummary(metrics)}
            </span>
          )}
          <span className="message-actions">
            {content && <CopyButton text={content} label={`Copy ${ROLE_LABEL[role] ?? role} message`} />}
            {canRegenerate && onRegenerate && (
              <button type="button" className="btn-link" data-testid="regenerate" onClick={onRegenerate}>
                Regenerate
              </button>
            )}
          </span>
        </footer>
      )}
    </article>
  );
});

interface Props {
  messages: ChatItem[];
  streaming: StreamingMessage | null;
  isStreaming: boolean;
  loading: boolean;
  onRegenerate: () => void;
  emptyHint?: React.ReactNode;
  /** The inspector under each finished assistant message (`isLast`: the conversation's last). */
  renderInspector?: (message: ChatItem, isLast: boolean) => React.ReactNode;
}

/** First index of each chunk (chunks keep their messages as new ones arrive at the end). */
export function chunkStarts(count: number): number[] {
  const starts: number[] = [];
  for (let start = 0; start < count; start += CHUNK_SIZE) starts.push(start);
  return starts;
}

export function MessageList({ messages, streaming, isStreaming, loading, onRegenerate, emptyHint, renderInspector }: Props) {
  const scrollRef = useRef<HTMLDivElement | null>(null);
  const [rootEl, setRootEl] = useState<HTMLElement | null>(null);
  const setScrollEl = useCallback((el: HTMLDivElement | null) => {
    scrollRef.current = el;
    setRootEl(el);
  }, []);
  const watchNear = useNearWatcher(rootEl);
  const stick = useRef(true);
  const prevCount = useRef(0);

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }, []);

  // Follow the conversation while the user is at the bottom; jump to the end when a chat opens.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const opened = prevCount.current === 0 && messages.length > 0;
    prevCount.current = messages.length;
    if (opened) stick.current = true;
    if (stick.current) el.scrollTop = el.scrollHeight;
  }, [messages, streaming?.content]);

  let lastAssistant = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'assistant') {
      lastAssistant = i;
      break;
    }
    if (messages[i].role === 'user') break;
  }
  const canRegenerate = !isStreaming && lastAssistant === messages.length - 1 && lastAssistant >= 0;
  const eagerFrom = Math.max(0, messages.length - EAGER_TAIL);

  return (
    <div className="message-scroll" ref={setScrollEl} onScroll={onScroll}>
      <NearViewportContext.Provider value={watchNear}>
      <section className="message-list" aria-label="Messages">
        {loading && <p className="muted center">Loading chat…</p>}
        {!loading && messages.length === 0 && !streaming && emptyHint}
        {chunkStarts(messages.length).map((start) => (
          <div className="message-chunk" key={`chunk-${start}`}>
            {messages.slice(start, start + CHUNK_SIZE).map((m, offset) => {
              const i = start + offset;
              return (
                <MessageItem
                  key={m.key}
                  message={m}
                  lazy={i < eagerFrom}
                  canRegenerate={canRegenerate && i === lastAssistant}
                  onRegenerate={canRegenerate && i === lastAssistant ? onRegenerate : undefined}
                  inspector={m.role === 'assistant' ? renderInspector : undefined}
                  isLast={i === messages.length - 1 && !isStreaming}
                />
              );
            })}
          </div>
        ))}
        {streaming && (
          <MessageItem
            key={streaming.key}
            message={{ key: streaming.key, role: 'assistant', content: streaming.content }}
            streaming
          />
        )}
      </section>
      </NearViewportContext.Provider>
    </div>
  );
}

export default MessageList;
