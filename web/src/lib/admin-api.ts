// Admin and auth endpoints.

import { api, withQuery } from './api';
import type { ApiKeyInfo, Health, NewApiKey, Org, Upstream, UsageGroup, UsageRecord, User } from './types';

export const login = (username: string, password: string) =>
  api<User>('/auth/login', { method: 'POST', body: { username, password }, quiet401: true });
export const logout = () => api<void>('/auth/logout', { method: 'POST', quiet401: true });
export const me = (signal?: AbortSignal) => api<User>('/auth/me', { signal, quiet401: true });

export const listUsers = () => api<{ users: User[] }>('/admin/users').then((r) => r?.users ?? []);
export const createUser = (body: { username: string; password: string; role?: string; org_id?: string | number }) =>
  api<User>('/admin/users', { method: 'POST', body });
export const setUserRole = (id: string | number, role: User['role']) =>
  api<User>(`/admin/users/${encodeURIComponent(String(id))}`, { method: 'PATCH', body: { role } });
export const disableUser = (id: string | number) =>
  api<User>(`/admin/users/${encodeURIComponent(String(id))}/disable`, { method: 'POST', body: {} });
export const enableUser = (id: string | number) =>
  api<User>(`/admin/users/${encodeURIComponent(String(id))}/enable`, { method: 'POST', body: {} });

export const listOrgs = () => api<{ orgs: Org[] }>('/admin/orgs').then((r) => r?.orgs ?? []);

export const listKeys = () => api<{ keys: ApiKeyInfo[] }>('/admin/keys').then((r) => r?.keys ?? []);
export const createKey = (body: { user_id: string | number; name?: string; expires_at?: string }) =>
  api<NewApiKey>('/admin/keys', { method: 'POST', body });
export const deleteKey = (id: string | number) =>
  api<void>(`/admin/keys/${encodeURIComponent(String(id))}`, { method: 'DELETE' });

export const listUpstreams = () => api<{ upstreams: Upstream[] }>('/admin/upstreams').then((r) => r?.upstreams ?? []);
export const createUpstream = (body: Record<string, unknown>) =>
  api<Upstream>('/admin/upstreams', { method: 'POST', body });
export const deleteUpstream = (name: string) =>
  api<void>(`/admin/upstreams/${encodeURIComponent(name)}`, { method: 'DELETE' });
export const refreshHealth = () =>
  api<{ results: Health[] }>('/admin/upstreams/refresh-health', { method: 'POST', body: {} });

export interface UsageFilters {
  start?: string;
  end?: string;
  model?: string;
  user_id?: string;
  org_id?: string;
  source?: string;
  status?: string;
}

export function usageQuery(filters: UsageFilters, extra: Record<string, string | number | undefined> = {}) {
  return withQuery('/admin/usage', { ...filters, ...extra });
}

export const listUsage = (filters: UsageFilters, cursor?: string | null, limit = 50) =>
  api<{ records: UsageRecord[]; next_cursor: string | null }>(
    usageQuery(filters, { cursor: cursor ?? undefined, limit }),
  ).then((r) => ({ records: r?.records ?? [], next_cursor: r?.next_cursor ?? null }));

export const groupUsage = (filters: UsageFilters, groupBy: string) =>
  api<{ groups: UsageGroup[] }>(usageQuery(filters, { group_by: groupBy })).then((r) => r?.groups ?? []);

export const usageCsvUrl = (filters: UsageFilters) => usageQuery(filters, { format: 'csv' });

// Account deletion and retention (docs/audit.md, "Erasure and retention").
export const deleteUser = (id: string | number) =>
  api<void>(`/admin/users/${encodeURIComponent(String(id))}`, { method: 'DELETE' });
export const deleteOwnAccount = (password: string) =>
  api<void>('/auth/me', { method: 'DELETE', body: { password }, quiet401: true });

export interface RetentionSettings {
  default_days: number | null;
  org_days: Record<string, number | null>;
  interval_sec: number;
  last_run_at: string | null;
}
export interface RetentionRun {
  run_id: string;
  ran_at: string;
  chats_erased: number;
  users: number;
}
export const getRetention = () => api<RetentionSettings>('/admin/retention');
export const setRetention = (body: { default_days: number | null; org_days: Record<string, number | null> }) =>
  api<RetentionSettings>('/admin/retention', { method: 'PUT', body });
export const runRetention = () => api<RetentionRun>('/admin/retention/run', { method: 'POST', body: {} });
