// A comparison's export: JSON (the comparison as the server has it) or Markdown (pane by pane),
// with the chat export's formatting.

import type { Comparison } from './compare-api';
import { chatToMarkdown, downloadText, exportFilename } from './export';

export function comparisonToMarkdown(c: Comparison, exportedAt: Date = new Date()): string {
  const parts = [`# ${c.title}`, '', `- Comparison ID: ${c.id}`, `- Exported: ${exportedAt.toISOString()}`, ''];
  for (const turn of c.turns) {
    const vote = turn.vote;
    const verdict =
      vote?.choice === 'pane' && vote.pane != null ? `preferred ${c.panes[vote.pane]?.label}` : (vote?.choice ?? 'no vote');
    parts.push(`- Turn ${turn.turn}: ${verdict}`);
  }
  for (const pane of c.panes) {
    const model = pane.model_name ?? 'hidden';
    const text = chatToMarkdown({ title: `${pane.label}: ${model}`, model, messages: pane.messages }, exportedAt);
    parts.push('', text.replace(/^# /, '## ').replace(/\n## /g, '\n### '));
  }
  return parts.join('\n');
}

export function downloadComparison(c: Comparison, format: 'md' | 'json'): void {
  const name = exportFilename({ title: c.title, messages: [] }, format);
  if (format === 'json') {
    const body = { ...c, exported_at: new Date().toISOString() };
    downloadText(name, JSON.stringify(body, null, 2), 'application/json');
  } else {
    downloadText(name, comparisonToMarkdown(c), 'text/markdown');
  }
}
