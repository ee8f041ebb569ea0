import { describe, expect, it } from 'vitest';
import { formatInt, formatMs, formatPercent, relativeTime } from './format';
import { titleFromMessage } from './chat-api';

describe('format', () => {
  it('groups thousands', () => {
    expect(formatInt(32768)).toBe('32,768');
    expect(formatInt(0)).toBe('0');
  });
  it('formats milliseconds and ratios', () => {
    expect(formatMs(145.4)).toBe('145ms');
    expect(formatMs(12_345)).toBe('12.3s');
    expect(formatMs(null)).toBe('—');
    expect(formatPercent(0.0512)).toBe('5.1%');
  });
  it('relative time', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(relativeTime('2026-11-24T11:59:50Z', now)).toBe('just now');
    expect(relativeTime('2026-11-24T11:55:00Z', now)).toBe('5 min ago');
    expect(relativeTime('2026-11-24T09:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime('2026-11-22T12:00:00Z', now)).toBe('2 d ago');
    expect(relativeTime('2026-10-01T12:00:00Z', now)).toMatch(/2026/);
    expect(relativeTime('not a date', now)).toBe('');
  });
  it('titles from the first message', () => {
    expect(titleFromMessage('  What   is\nPython? ')).toBe('What is Python?');
    const long = titleFromMessage('word '.repeat(40));
    expect(long.length).toBeLessThanOrEqual(60);
    expect(long.endsWith('…')).toBe(true);
  });
});
