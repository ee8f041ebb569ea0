import { describe, expect, it } from 'vitest';
import {
  contextLevel,
  contextMessages,
  estimateMessagesTokens,
  estimateTextTokens,
  formatContextLine,
  PER_MESSAGE_OVERHEAD,
} from './context';

describe('context estimate', () => {
  it('uses ~4 characters per token', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('a')).toBe(1);
    expect(estimateTextTokens('a'.repeat(4000))).toBe(1000);
  });

  it('sums the messages with a small per-message overhead', () => {
    const msgs = [
      { role: 'system', content: 'x'.repeat(40) },
      { role: 'user', content: 'y'.repeat(400) },
      { role: 'assistant', content: '' },
    ];
    expect(estimateMessagesTokens(msgs)).toBe(10 + 100 + 2 * PER_MESSAGE_OVERHEAD);
  });

  it('counts system prompt, history and draft', () => {
    const msgs = contextMessages('Be brief.', [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], 'next');
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(contextMessages('  ', [], '   ')).toEqual([]);
  });
});

describe('context line', () => {
  it('formats with thousands separators', () => {
    expect(formatContextLine(1234, 32768, true)).toBe('Context: 1,234 / 32,768 tokens');
    expect(formatContextLine(0, 4096, true)).toBe('Context: 0 / 4,096 tokens');
    expect(formatContextLine(1234567, 1048576, true)).toBe('Context: 1,234,567 / 1,048,576 tokens');
  });

  it('marks estimates', () => {
    expect(formatContextLine(2048, 32768, false)).toBe('Context: 2,048 / 32,768 tokens (estimate)');
  });

  it('shows an unknown limit', () => {
    expect(formatContextLine(12, null, true)).toBe('Context: 12 / — tokens');
  });

  it('warns above 90 % and blocks when prompt + max_tokens exceed the window', () => {
    expect(contextLevel(1000, 32768, 512)).toBe('ok');
    expect(contextLevel(29_600, 32768, 512)).toBe('warn');
    expect(contextLevel(32_300, 32768, 512)).toBe('over');
    expect(contextLevel(100, 4096, 4096)).toBe('over');
    expect(contextLevel(100, null, 4096)).toBe('ok');
  });
});
