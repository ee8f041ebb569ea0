import { describe, expect, it } from 'vitest';
import { conversationItems, DEFAULT_SETTINGS, settingsFromConstraints, toItem, type ChatItem } from './chatState';
import { requestMessages } from './chatTurn';

describe('chat helpers', () => {
  it('seeds settings from constraints', () => {
    const s = settingsFromConstraints(
      {
        served_model_name: 'm',
        engine_type: 'vllm',
        task: 'generate',
        context_size: null,
        max_model_len: 32768,
        max_tokens_default: 1024,
        request_defaults: { temperature: 0.2, top_p: 0.8 },
        supports_streaming: true,
        supports_system_prompt: true,
      },
      { ...DEFAULT_SETTINGS, systemPrompt: 'keep me' },
    );
    expect(s).toEqual({ systemPrompt: 'keep me', temperature: 0.2, topP: 0.8, maxTokens: 1024 });
    expect(settingsFromConstraints(null, DEFAULT_SETTINGS)).toEqual(DEFAULT_SETTINGS);
  });

  it('sends non-empty turns in order', () => {
    const items: ChatItem[] = [
      { key: '1', role: 'system', content: 'sys' },
      { key: '2', role: 'user', content: 'q' },
      { key: '3', role: 'assistant', content: '' },
      { key: '4', role: 'user', content: 'q2' },
    ];
    expect(requestMessages(items)).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'q' },
      { role: 'user', content: 'q2' },
    ]);
  });

  it('reads metrics_json given as a string or an object', () => {
    const a = toItem({ id: 1, session_id: 's', role: 'assistant', content: 'x', metrics_json: '{"ttft_ms":5}', created_at: '' });
    const b = toItem({ id: 2, session_id: 's', role: 'assistant', content: 'x', metrics_json: { ttft_ms: 6 }, created_at: '' });
    const c = toItem({ id: 3, session_id: 's', role: 'user', content: 'x', metrics_json: null, created_at: '' });
    expect(a.metrics?.ttft_ms).toBe(5);
    expect(b.metrics?.ttft_ms).toBe(6);
    expect(c.metrics).toBeNull();
    expect(a.key).toBe('m-1');
  });

  it('shows only the latest of regenerated answers', () => {
    const message = (id: number, role: 'user' | 'assistant', content: string) => ({
      id,
      session_id: 's',
      role,
      content,
      metrics_json: null,
      created_at: '',
    });
    const items = conversationItems([
      message(1, 'user', 'q'),
      message(2, 'assistant', 'first'),
      message(3, 'assistant', 'second'),
      message(4, 'user', 'q2'),
      message(5, 'assistant', 'third'),
    ]);
    expect(items.map((m) => m.content)).toEqual(['q', 'second', 'q2', 'third']);
  });
});
