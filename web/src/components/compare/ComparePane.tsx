import './compare.css';
import { forwardRef, memo } from 'react';
import type { PaneLive } from '../../hooks/compareTurn';
import type { Pane } from '../../lib/compare-api';
import { formatInt, formatNumber } from '../../lib/format';
import { formatPerfLine } from '../../lib/metrics';
import { parseMetrics, type ServerMetrics } from '../../lib/types';
import { MessageContent } from '../chat/MessageContent';

interface Props {
  pane: Pane;
  live: PaneLive | null;
  /** The turn is still running (streaming, or its answers being saved). */
  turnRunning: boolean;
  onScroll: () => void;
}

const ms = (v: number | null | undefined) => (v != null && Number.isFinite(v) ? `${formatInt(v)}ms` : '—');

/** "TTFT 145ms · 32.5 tok/s · ITL p50 30ms · Tokens 87": the server's figures of an answer. */
export function serverLine(m: ServerMetrics): string {
  const rate = m.decode_tokens_per_s != null ? formatNumber(m.decode_tokens_per_s, 1) : '—';
  const tokens = m.completion_tokens != null ? formatInt(m.completion_tokens) : '—';
  return `TTFT ${ms(m.ttft_ms)} · ${rate} tok/s · ITL p50 ${ms(m.itl_p50_ms)} · Tokens ${tokens}`;
}

function ComparePaneImpl({ pane, live, turnRunning, onScroll }: Props, ref: React.Ref<HTMLDivElement>) {
  const messages = pane.messages.filter((m) => m.role !== 'system');
  const pending = turnRunning && live !== null;
  const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
  const saved = parseMetrics(lastAssistant?.metrics_json ?? null);
  let perf: string;
  let note: string;
  if (live && live.live && (live.streaming || !saved)) {
    perf = `${formatPerfLine(live.live)} | ITL: ${ms(live.itlMs)}`;
    note = live.streaming ? 'live' : 'last reply';
  } else if (saved) {
    perf = serverLine(saved);
    note = 'server-measured';
  } else {
    perf = formatPerfLine({ tokensPerSecond: null, ttftMs: null, tokens: null });
    note = 'no reply yet';
  }
  return (
    <section className="compare-pane" data-testid="compare-pane" data-pane-index={pane.index} aria-label={pane.label}>
      <header className="compare-pane-head">
        <strong>{pane.label}</strong>
        <span className="compare-pane-model" data-testid="pane-model">
          {pane.model_name ?? 'hidden until you vote'}
        </span>
      </header>
      <div className="compare-pane-scroll" ref={ref} onScroll={onScroll} data-testid="pane-scroll">
        {messages.map((m) => {
          const metrics = parseMetrics(m.metrics_json ?? null);
          const status = metrics?.status && metrics.status !== 'complete' ? metrics.status : null;
          return (
            <article key={m.id} className={`pane-message pane-${m.role}`} data-testid="pane-message" data-role={m.role}>
              {status && <span className={`badge badge-${status}`}>{status}</span>}
              <MessageContent content={m.content} markdown={m.role === 'assistant'} />
              {m.role === 'assistant' && metrics && (
                <p className="pane-metrics muted small" data-testid="pane-message-metrics">
                  {serverLine(metrics)}
                </p>
              )}
            </article>
          );
        })}
        {pending && live && (
          <>
            <article className="pane-message pane-user" data-testid="pane-message" data-role="user">
              <MessageContent content={live.prompt} markdown={false} />
            </article>
            <article className="pane-message pane-assistant" data-testid="pane-message" data-role="assistant" aria-busy={live.streaming}>
              <MessageContent content={live.content} markdown streaming={live.streaming} />
            </article>
          </>
        )}
      </div>
      {live?.error && (
        <p className="inline-error" role="alert" data-testid="pane-error">
          {live.error}
        </p>
      )}
      <div className={`perf ${live?.streaming ? 'perf-live' : ''}`}>
        <span data-testid="pane-perf" className="perf-line">
          {perf}
        </span>
        <span className="perf-note">{note}</span>
      </div>
    </section>
  );
}

export const ComparePane = memo(forwardRef(ComparePaneImpl));
