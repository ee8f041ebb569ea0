import { useCallback, useEffect, useRef, useState } from 'react';
import { clearSessions, deleteSession, listSessions, SESSION_PAGE_SIZE } from '../lib/chat-api';
import type { SessionSummary } from '../lib/types';

/** The sidebar's paginated chat list (newest activity first). */
export function useSessions() {
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const gen = useRef(0);

  const refresh = useCallback(async () => {
    const g = ++gen.current;
    setLoading(true);
    try {
      const page = await listSessions(null, SESSION_PAGE_SIZE);
      if (g !== gen.current) return;
      setSessions(page.sessions);
      setNextCursor(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      if (g !== gen.current) return;
      setError(e instanceof Error ? e.message : 'Could not load chats.');
    } finally {
      if (g === gen.current) setLoading(false);
    }
  }, []);

  const loadMore = useCallback(async () => {
    if (!nextCursor) return;
    const g = gen.current;
    setLoadingMore(true);
    try {
      const page = await listSessions(nextCursor, SESSION_PAGE_SIZE);
      if (g !== gen.current) return;
      setSessions((prev) => {
        const seen = new Set(prev.map((s) => s.id));
        return [...prev, ...page.sessions.filter((s) => !seen.has(s.id))];
      });
      setNextCursor(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not load more chats.');
    } finally {
      setLoadingMore(false);
    }
  }, [nextCursor]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  /** Insert or update a session and move it to the top (new activity). */
  const touch = useCallback((s: Partial<SessionSummary> & { id: string }, moveToTop = true) => {
    setSessions((prev) => {
      const i = prev.findIndex((x) => x.id === s.id);
      const base: SessionSummary =
        i >= 0
          ? prev[i]
          : {
              id: s.id,
              title: '',
              model_name: '',
              engine_type: '',
              message_count: 0,
              created_at: new Date().toISOString(),
              updated_at: new Date().toISOString(),
            };
      const merged = { ...base, ...s };
      if (!moveToTop && i >= 0) {
        const copy = prev.slice();
        copy[i] = merged;
        return copy;
      }
      return [merged, ...prev.filter((x) => x.id !== s.id)];
    });
  }, []);

  const remove = useCallback(async (id: string) => {
    await deleteSession(id);
    setSessions((prev) => prev.filter((s) => s.id !== id));
  }, []);

  const clearAll = useCallback(async () => {
    await clearSessions();
    gen.current++;
    setSessions([]);
    setNextCursor(null);
  }, []);

  return { sessions, nextCursor, loading, loadingMore, error, refresh, loadMore, touch, remove, clearAll };
}
