import { memo, useState } from 'react';
import { Link } from 'react-router-dom';
import type { ChatItem } from '../../hooks/chatState';
import { checkText } from '../../lib/inspect/schema';
import { inspectOf, type ToolSpec } from '../../lib/inspect/types';
import { RawExchange } from './RawExchange';
import { TokenView } from './TokenView';
import { ToolCalls } from './ToolCalls';

export interface MessageInspectorProps {
  message: ChatItem;
  sessionId: string | null;
  model: string;
  /** The chat's JSON Schema (parsed), when one is set: every answer is checked against it. */
  schema: unknown;
  tools: ToolSpec[] | null;
  /** The conversation's last message, no answer streaming: its tool calls may be answered. */
  isLast: boolean;
  onToolAnswer: (callId: string, content: string) => void;
}

/** Under an assistant message: its schema check, tool calls, token view, raw exchange, compare link. */
export const MessageInspector = memo(function MessageInspector(props: MessageInspectorProps) {
  const { message, sessionId, model, schema, tools, isLast, onToolAnswer } = props;
  const [open, setOpen] = useState<'tokens' | 'raw' | null>(null);
  const record = inspectOf(message.metrics);
  const calls = record?.tool_calls ?? [];
  const verdict = schema && message.content && !calls.length ? checkText(message.content, schema) : null;
  // Tools sent, text back: say so, as some servers ignore `tools` (or only honour a forced choice).
  const sentTools = Array.isArray(record?.params.tools) && record.params.tools.length > 0;
  const toggle = (what: 'tokens' | 'raw') => setOpen(open === what ? null : what);
  return (
    <div className="message-inspector" data-testid="message-inspector">
      {verdict && (
        <div className="schema-verdict" data-testid="schema-verdict">
          Schema:{' '}
          <span className={`badge ${verdict.ok ? 'badge-pass' : 'badge-fail'}`}>{verdict.ok ? 'pass' : 'fail'}</span>
          {!verdict.ok && (
            <span className="muted">
              {' '}
              at <code>{verdict.path}</code>: {verdict.message}
            </span>
          )}
        </div>
      )}
      {sentTools && !calls.length && (
        <p className="muted inspect-note" data-testid="no-tool-call">
          Tools were sent, but {model} answered without a tool call: the model chose not to call one, or this model
          server does not support tool calls (some call a tool only when the request’s “tool_choice” names it).
        </p>
      )}
      {calls.length > 0 && (
        <ToolCalls calls={calls} tools={tools} onAnswer={isLast ? onToolAnswer : undefined} />
      )}
      <div className="inspect-toggles">
        <button
          type="button"
          className="btn-link"
          aria-pressed={open === 'tokens'}
          data-testid="toggle-tokens"
          onClick={() => toggle('tokens')}
        >
          Tokens
        </button>
        <button
          type="button"
          className="btn-link"
          aria-pressed={open === 'raw'}
          data-testid="toggle-raw"
          onClick={() => toggle('raw')}
        >
          Raw exchange
        </button>
        {sessionId && message.id !== undefined && (
          <Link
            className="btn-link"
            data-testid="compare-link"
            to={`/compare?from_session=${encodeURIComponent(sessionId)}&message=${encodeURIComponent(String(message.id))}`}
          >
            Run this again on another model
          </Link>
        )}
      </div>
      {open === 'tokens' && <TokenView record={record} model={model} />}
      {open === 'raw' && <RawExchange record={record} />}
    </div>
  );
});

export default MessageInspector;
