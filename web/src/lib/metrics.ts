// Live client-side performance figures of one streamed answer.
//
// TTFT: from the Send click to the first content delta.
// tok/s: decode rate, excluding TTFT: (tokens - 1) / (t - first token time), where tokens come from
// the server's usage when it arrives and are otherwise estimated from the text (~4 chars/token),
// never from the number of stream chunks (a chunk may carry several tokens).

import { formatInt, formatNumber } from './format';

export const CHARS_PER_TOKEN = 4;

export interface MetricsSnapshot {
  ttftMs: number | null;
  tokens: number;
  /** true while tokens are estimated from text (no usage from the server yet). */
  tokensEstimated: boolean;
  tokensPerSecond: number | null;
  elapsedMs: number | null;
  done: boolean;
}

export function estimateTokensFromText(text: string | number): number {
  const chars = typeof text === 'number' ? text : text.length;
  return chars <= 0 ? 0 : Math.ceil(chars / CHARS_PER_TOKEN);
}

export class LiveMetrics {
  private startAt: number | null = null;
  private firstTokenAt: number | null = null;
  private lastTokenAt: number | null = null;
  private endAt: number | null = null;
  private chars = 0;
  private usageTokens: number | null = null;
  private readonly clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.clock = clock;
  }

  /** The user clicked Send. */
  start(at: number = this.clock()): void {
    this.startAt = at;
    this.firstTokenAt = null;
    this.lastTokenAt = null;
    this.endAt = null;
    this.chars = 0;
    this.usageTokens = null;
  }

  /** A content delta arrived (any number of tokens). Empty deltas (role-only chunks) are ignored. */
  onDelta(text: string, at: number = this.clock()): void {
    if (!text) return;
    if (this.firstTokenAt === null) this.firstTokenAt = at;
    this.lastTokenAt = at;
    this.chars += text.length;
  }

  /** Server usage (stream_options.include_usage) or server metrics arrived. */
  onUsage(completionTokens: number | null | undefined): void {
    if (typeof completionTokens === 'number' && Number.isFinite(completionTokens) && completionTokens >= 0) {
      this.usageTokens = completionTokens;
    }
  }

  finish(at: number = this.clock()): void {
    if (this.endAt === null) this.endAt = at;
  }

  get started(): boolean {
    return this.startAt !== null;
  }

  snapshot(now: number = this.clock()): MetricsSnapshot {
    const done = this.endAt !== null;
    const tokensEstimated = this.usageTokens === null;
    const tokens = this.usageTokens ?? estimateTokensFromText(this.chars);
    const ttftMs =
      this.startAt !== null && this.firstTokenAt !== null ? Math.max(0, this.firstTokenAt - this.startAt) : null;
    let tokensPerSecond: number | null = null;
    if (this.firstTokenAt !== null && tokens >= 2) {
      // While streaming: up to now; once done: up to the last token (the server's definition).
      const until = done ? (this.lastTokenAt ?? now) : Math.max(now, this.lastTokenAt ?? now);
      const seconds = (until - this.firstTokenAt) / 1000;
      if (seconds > 0) tokensPerSecond = (tokens - 1) / seconds;
    }
    const elapsedMs = this.startAt !== null ? (this.endAt ?? now) - this.startAt : null;
    return { ttftMs, tokens, tokensEstimated, tokensPerSecond, elapsedMs, done };
  }
}

/** "32.5 tok/s | TTFT: 145ms | Tokens: 87" */
export function formatPerfLine(s: {
  tokensPerSecond: number | null | undefined;
  ttftMs: number | null | undefined;
  tokens: number | null | undefined;
}): string {
  const rate =
    s.tokensPerSecond !== null && s.tokensPerSecond !== undefined && Number.isFinite(s.tokensPerSecond)
      ? formatNumber(s.tokensPerSecond, 1)
      : '—';
  const ttft =
    s.ttftMs !== null && s.ttftMs !== undefined && Number.isFinite(s.ttftMs) ? `${formatInt(s.ttftMs)}ms` : '—';
  const tokens = s.tokens !== null && s.tokens !== undefined && Number.isFinite(s.tokens) ? formatInt(s.tokens) : '—';
  return `${rate} tok/s | TTFT: ${ttft} | Tokens: ${tokens}`;
}
