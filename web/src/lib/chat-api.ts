// Chat session persistence APIs (cookie auth). The gateway records chat turns itself when
// /v1/chat/completions is called with X-Chat-Session-Id; the UI never posts them again.

import { api, newIdempotencyKey, withQuery } from './api';
import type { Message, Role, Session, SessionPage } from './types';

export const SESSION_PAGE_SIZE = 50;

export function listSessions(cursor?: string | null, limit = SESSION_PAGE_SIZE, signal?: AbortSignal): Promise<SessionPage> {
  return api<SessionPage>(withQuery('/v1/chat/sessions', { limit, cursor: cursor ?? undefined }), { signal }).then(
    (p) => ({ sessions: Array.isArray(p?.sessions) ? p.sessions : [], next_cursor: p?.next_cursor ?? null }),
  );
}

export function createSession(modelName: string, title?: string): Promise<Session> {
  const body: Record<string, string> = { model_name: modelName };
  if (title) body.title = title;
  return api<Session>('/v1/chat/sessions', {
    method: 'POST',
    body,
    headers: { 'Idempotency-Key': newIdempotencyKey() },
  });
}

export function getSession(id: string, signal?: AbortSignal): Promise<Session> {
  return api<Session>(`/v1/chat/sessions/${encodeURIComponent(id)}`, { signal }).then((s) => ({
    ...s,
    messages: Array.isArray(s?.messages) ? s.messages : [],
  }));
}

/**
 * Add a message to a session. Used only for the system prompt of a new chat (the completions
 * endpoint records user and assistant turns itself).
 */
export function addMessage(id: string, role: Role, content: string): Promise<Message> {
  return api<Message>(`/v1/chat/sessions/${encodeURIComponent(id)}/messages`, {
    method: 'POST',
    body: { role, content },
    headers: { 'Idempotency-Key': newIdempotencyKey() },
  });
}

export function deleteSession(id: string): Promise<void> {
  return api<void>(`/v1/chat/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function clearSessions(): Promise<void> {
  return api<void>('/v1/chat/sessions', { method: 'DELETE' });
}

/** Title for a new chat from its first user message. */
export function titleFromMessage(text: string, max = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  if (one.length <= max) return one;
  const cut = one.slice(0, max - 1);
  const sp = cut.lastIndexOf(' ');
  return `${(sp > max / 2 ? cut.slice(0, sp) : cut).trimEnd()}…`;
}
