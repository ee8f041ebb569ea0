import { memo, useCallback, useState } from 'react';
import { formatInt, relativeTime } from '../../lib/format';
import type { SessionSummary } from '../../lib/types';
import { ConfirmDialog } from '../ConfirmDialog';
import { ComparisonHistory } from '../compare/ComparisonHistory';
import { InlineError } from '../InlineError';

interface Props {
  sessions: SessionSummary[];
  activeId: string | null;
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
  hasMore: boolean;
  open: boolean;
  onNewChat: () => void;
  onSelect: (id: string) => void;
  onDelete: (id: string) => Promise<void>;
  onClearAll: () => Promise<void>;
  onLoadMore: () => void;
  onClose: () => void;
}

const ChatEntry = memo(function ChatEntry({
  s,
  active,
  onSelect,
  onDelete,
}: {
  s: SessionSummary;
  active: boolean;
  onSelect: (id: string) => void;
  onDelete: (id: string) => void;
}) {
  const title = s.title?.trim() || 'New chat';
  return (
    <li className={`chat-item${active ? ' active' : ''}`} data-testid="chat-item" data-session-id={s.id}>
      <button
        type="button"
        className="chat-item-main"
        onClick={() => onSelect(s.id)}
        aria-current={active ? 'page' : undefined}
        title={title}
      >
        <span className="chat-item-title">{title}</span>
        <span className="chat-item-meta">
          <span className="chat-item-model">{s.model_name}</span>
          <span aria-hidden="true"> · </span>
          <time dateTime={s.updated_at}>{relativeTime(s.updated_at || s.created_at)}</time>
        </span>
      </button>
      <button
        type="button"
        className="chat-item-delete"
        aria-label={`Delete chat ${title}`}
        title="Delete chat"
        onClick={() => onDelete(s.id)}
      >
        ×
      </button>
    </li>
  );
});

function ChatSidebarImpl(props: Props) {
  const { sessions, activeId, loading, loadingMore, error, hasMore, open, onNewChat, onSelect, onDelete, onClearAll, onLoadMore, onClose } = props;
  const [confirmOpen, setConfirmOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const del = useCallback(
    async (id: string) => {
      setActionError(null);
      try {
        await onDelete(id);
      } catch (e) {
        setActionError(e instanceof Error ? e.message : 'Could not delete the chat.');
      }
    },
    [onDelete],
  );

  const clearAll = async () => {
    setBusy(true);
    setActionError(null);
    try {
      await onClearAll();
      setConfirmOpen(false);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : 'Could not clear chats.');
      setConfirmOpen(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <aside id="chat-sidebar" className={`chat-sidebar${open ? ' open' : ''}`} aria-label="Chat history">
      <div className="chat-sidebar-head">
        <h2 className="sidebar-title">Chat History</h2>
        <button type="button" className="btn btn-ghost btn-small sidebar-close" onClick={onClose} aria-label="Close chat history">
          ×
        </button>
      </div>
      <button type="button" className="btn btn-primary btn-block" data-testid="new-chat" onClick={onNewChat}>
        + New Chat
      </button>
      <InlineError message={error} />
      <InlineError message={actionError} />
      <div className="chat-list-scroll">
      <ComparisonHistory />
      <ul className="chat-list" data-testid="chat-list" aria-label="Chats" aria-busy={loading || undefined}>
        {sessions.map((s) => (
          <ChatEntry key={s.id} s={s} active={s.id === activeId} onSelect={onSelect} onDelete={del} />
        ))}
      </ul>
      {loading && sessions.length === 0 && <p className="muted small">Loading chats…</p>}
      {!loading && sessions.length === 0 && !error && <p className="muted small">No chats yet.</p>}
      {hasMore && (
        <button type="button" className="btn btn-block btn-small" onClick={onLoadMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Load more'}
        </button>
      )}
      </div>
      <div className="chat-sidebar-foot">
        <button
          type="button"
          className="btn btn-block btn-danger-outline"
          data-testid="clear-all"
          onClick={() => setConfirmOpen(true)}
          disabled={sessions.length === 0}
        >
          Clear All
        </button>
      </div>
      <ConfirmDialog
        open={confirmOpen}
        title="Delete all chats?"
        confirmLabel={busy ? 'Deleting…' : 'Delete all chats'}
        danger
        busy={busy}
        onConfirm={() => void clearAll()}
        onCancel={() => setConfirmOpen(false)}
      >
        <p>
          This permanently deletes all {sessions.length > 0 ? `${formatInt(sessions.length)}${hasMore ? '+' : ''} ` : ''}
          of your chats and their messages. This cannot be undone.
        </p>
      </ConfirmDialog>
    </aside>
  );
}

export const ChatSidebar = memo(ChatSidebarImpl);
export default ChatSidebar;
