import { describe, expect, it } from 'vitest';
import { estimateTokensFromText, formatPerfLine, LiveMetrics } from './metrics';

describe('LiveMetrics', () => {
  it('measures TTFT from the send click to the first content delta', () => {
    const m = new LiveMetrics(() => 0);
    m.start(1000);
    m.onDelta('', 1050); // role-only chunk: not content
    expect(m.snapshot(1100).ttftMs).toBeNull();
    m.onDelta('Hi', 1145);
    expect(m.snapshot(1145).ttftMs).toBe(145);
  });

  it('tok/s is the decode rate and excludes TTFT', () => {
    const m = new LiveMetrics(() => 0);
    m.start(0);
    m.onDelta('a', 2000); // very slow first token: TTFT 2 s
    for (let i = 1; i <= 10; i++) m.onDelta('b', 2000 + i * 100);
    m.onUsage(11);
    m.finish(3000);
    const s = m.snapshot(5000);
    expect(s.ttftMs).toBe(2000);
    expect(s.tokens).toBe(11);
    // (11 - 1) tokens over 1.0 s between first and last token
    expect(s.tokensPerSecond).toBeCloseTo(10, 6);
    // a whole-turn rate would have been 11 / 3 s
    expect(s.tokensPerSecond).not.toBeCloseTo(11 / 3, 1);
  });

  it('counts tokens, not chunks, when a chunk carries several tokens', () => {
    const m = new LiveMetrics(() => 0);
    m.start(0);
    m.onDelta('x'.repeat(40), 100); // one chunk ≈ 10 tokens
    m.onDelta('y'.repeat(40), 600); // one chunk ≈ 10 tokens
    const est = m.snapshot(600);
    expect(est.tokens).toBe(20);
    expect(est.tokensEstimated).toBe(true);
    expect(est.tokensPerSecond).toBeCloseTo(19 / 0.5, 6);
    // the server's usage replaces the estimate
    m.onUsage(24);
    m.finish(600);
    const exact = m.snapshot(600);
    expect(exact.tokens).toBe(24);
    expect(exact.tokensEstimated).toBe(false);
    expect(exact.tokensPerSecond).toBeCloseTo(23 / 0.5, 6);
  });

  it('has no rate with fewer than two tokens', () => {
    const m = new LiveMetrics(() => 0);
    m.start(0);
    m.onDelta('ab', 100);
    expect(m.snapshot(200).tokensPerSecond).toBeNull();
  });

  it('uses the last token time once finished (idle time after the stream does not lower the rate)', () => {
    const m = new LiveMetrics(() => 0);
    m.start(0);
    m.onDelta('a', 100);
    m.onDelta('b', 1100);
    m.onUsage(3);
    m.finish(1200);
    expect(m.snapshot(99999).tokensPerSecond).toBeCloseTo(2, 6);
  });
});

describe('formatting', () => {
  it('formats the performance line', () => {
    expect(formatPerfLine({ tokensPerSecond: 32.48, ttftMs: 145.2, tokens: 87 })).toBe(
      '32.5 tok/s | TTFT: 145ms | Tokens: 87',
    );
    expect(formatPerfLine({ tokensPerSecond: null, ttftMs: null, tokens: 0 })).toBe('— tok/s | TTFT: — | Tokens: 0');
    expect(formatPerfLine({ tokensPerSecond: 1234.5, ttftMs: 1500, tokens: 12345 })).toBe(
      '1,234.5 tok/s | TTFT: 1,500ms | Tokens: 12,345',
    );
  });

  it('estimates ~4 characters per token', () => {
    expect(estimateTokensFromText('')).toBe(0);
    expect(estimateTokensFromText('abc')).toBe(1);
    expect(estimateTokensFromText('abcdefgh')).toBe(2);
    expect(estimateTokensFromText(9)).toBe(3);
  });
});
