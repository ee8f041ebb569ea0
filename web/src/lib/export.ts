// Chat export as Markdown or JSON.

import { parseMetrics, type ServerMetrics } from './types';

export interface ExportMessage {
  role: string;
  content: string;
  metrics_json?: ServerMetrics | string | null;
  created_at?: string | null;
}

export interface ExportChat {
  id?: string | null;
  title?: string | null;
  model?: string | null;
  messages: ExportMessage[];
}

const ROLE_TITLE: Record<string, string> = { user: 'User', assistant: 'Assistant', system: 'System' };

export function chatToMarkdown(chat: ExportChat, exportedAt: Date = new Date()): string {
  const lines: string[] = [];
  lines.push(`# ${chat.title?.trim() || 'Chat'}`);
  lines.push('');
  if (chat.model) lines.push(`- Model: ${chat.model}`);
  if (chat.id) lines.push(`- Chat ID: ${chat.id}`);
  lines.push(`- Exported: ${exportedAt.toISOString()}`);
  lines.push('');
  for (const m of chat.messages) {
    lines.push(`## ${ROLE_TITLE[m.role] ?? m.role}`);
    lines.push('');
    lines.push(m.content);
    const metrics = parseMetrics(m.metrics_json ?? null);
    if (m.role === 'assistant' && metrics) {
      const bits: string[] = [];
      if (metrics.ttft_ms != null) bits.push(`TTFT ${Math.round(metrics.ttft_ms)} ms`);
      if (metrics.decode_tokens_per_s != null) bits.push(`${metrics.decode_tokens_per_s.toFixed(1)} tok/s`);
      if (metrics.completion_tokens != null) bits.push(`${metrics.completion_tokens} tokens`);
      if (metrics.status && metrics.status !== 'complete') bits.push(`status: ${metrics.status}`);
      if (bits.length) {
        lines.push('');
        lines.push(`_${bits.join(' · ')}_`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function chatToJson(chat: ExportChat, exportedAt: Date = new Date()): string {
  return JSON.stringify(
    {
      id: chat.id ?? null,
      title: chat.title ?? null,
      model: chat.model ?? null,
      exported_at: exportedAt.toISOString(),
      messages: chat.messages.map((m) => ({
        role: m.role,
        content: m.content,
        metrics: parseMetrics(m.metrics_json ?? null),
        created_at: m.created_at ?? null,
      })),
    },
    null,
    2,
  );
}

export function exportFilename(chat: ExportChat, ext: 'md' | 'json'): string {
  const base = (chat.title || 'chat')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
  return `${base || 'chat'}.${ext}`;
}

export function downloadText(filename: string, text: string, mime: string): void {
  const blob = new Blob([text], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  document.body.removeChild(a);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
