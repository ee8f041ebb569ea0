// The audit trail (admin) and the user's own data archive (docs/audit.md).

import { api, withQuery } from './api';
import type { components } from './api.gen';

export type TimelineView = components['schemas']['TimelineView'];
export type TimelineEntry = components['schemas']['TimelineEntry'];

export const userTimeline = (user: string) => api<TimelineView>(withQuery('/admin/audit/timeline', { user }));

/** A plain link downloads it: the session cookie authenticates a GET, no CSRF header needed. */
export const exportUrl = (user: string) => withQuery('/admin/audit/export', { user });

export const ARCHIVE_URL = '/auth/me/archive';
