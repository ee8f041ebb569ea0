import { describe, expect, it } from 'vitest';
import { chatToJson, chatToMarkdown, exportFilename } from './export';

const chat = {
  id: 's1',
  title: 'What is Python?',
  model: 'Qwen-2-7B-Instruct',
  messages: [
    { role: 'user', content: 'What is Python?', created_at: '2026-11-24T03:14:48Z' },
    {
      role: 'assistant',
      content: 'Python is a **high-level** language.',
      metrics_json: JSON.stringify({ status: 'stopped', ttft_ms: 145.4, decode_tokens_per_s: 32.46, completion_tokens: 87 }),
    },
  ],
};
const when = new Date('2026-11-24T04:00:00Z');

describe('export', () => {
  it('Markdown has the title, roles and server figures', () => {
    const md = chatToMarkdown(chat, when);
    expect(md).toContain('# What is Python?');
    expect(md).toContain('- Model: Qwen-2-7B-Instruct');
    expect(md).toContain('## User\n\nWhat is Python?');
    expect(md).toContain('## Assistant\n\nPython is a **high-level** language.');
    expect(md).toContain('_TTFT 145 ms · 32.5 tok/s · 87 tokens · status: stopped_');
  });

  it('JSON is parseable and keeps metrics as objects', () => {
    const j = JSON.parse(chatToJson(chat, when));
    expect(j.id).toBe('s1');
    expect(j.exported_at).toBe('2026-11-24T04:00:00.000Z');
    expect(j.messages).toHaveLength(2);
    expect(j.messages[1].metrics.completion_tokens).toBe(87);
    expect(j.messages[0].metrics).toBeNull();
  });

  it('builds safe file names', () => {
    expect(exportFilename(chat, 'md')).toBe('what-is-python.md');
    expect(exportFilename({ messages: [] }, 'json')).toBe('chat.json');
  });
});
