// One pane's part of a comparison turn, without React: its live figures (the chat's LiveMetrics
// plus the inter-token latency), its request, and how it ended.

import type { ChatRequestMessage } from '../lib/chat-client';
import type { Pane, Sampling } from '../lib/compare-api';
import { LiveMetrics, type MetricsSnapshot } from '../lib/metrics';
import type { ServerMetrics } from '../lib/types';

/** The chat's live figures, plus ITL: the mean gap between streamed chunks (client-side). */
export class PaneMetrics extends LiveMetrics {
  private gaps = 0;
  private gapTotal = 0;
  private last: number | null = null;

  override start(at?: number): void {
    super.start(at);
    this.gaps = 0;
    this.gapTotal = 0;
    this.last = null;
  }

  override onDelta(text: string, at: number = performance.now()): void {
    if (!text) return;
    if (this.last !== null) {
      this.gaps += 1;
      this.gapTotal += at - this.last;
    }
    this.last = at;
    super.onDelta(text, at);
  }

  get itlMs(): number | null {
    return this.gaps > 0 ? this.gapTotal / this.gaps : null;
  }
}

export interface PaneLive {
  prompt: string;
  content: string;
  live: MetricsSnapshot | null;
  itlMs: number | null;
  server: ServerMetrics | null;
  error: string | null;
  streaming: boolean;
  stopped: boolean;
}

export function idlePane(prompt: string): PaneLive {
  return { prompt, content: '', live: null, itlMs: null, server: null, error: null, streaming: true, stopped: false };
}

/** The messages a pane's model gets: its own history (each pane keeps its own), then the prompt. */
export function paneRequest(pane: Pane, prompt: string): ChatRequestMessage[] {
  const history = pane.messages
    .filter((m) => m.content.trim() !== '')
    .map((m) => ({ role: m.role, content: m.content }) as ChatRequestMessage);
  return [...history, { role: 'user', content: prompt }];
}

/** Sampling sent to a pane: the shared settings when they apply to every pane. */
export function paneSampling(settings: Sampling[], index: number, same: boolean): Sampling {
  return (same ? settings[0] : settings[index]) ?? {};
}

/** A pane's answer is saved once its session has an assistant message after `userTurns` prompts. */
export function answered(pane: Pane, userTurns: number): boolean {
  const users = pane.messages.filter((m) => m.role === 'user').length;
  const last = pane.messages[pane.messages.length - 1];
  return users >= userTurns && last?.role === 'assistant';
}
