import { memo } from 'react';
import { formatPerfLine, type MetricsSnapshot } from '../../lib/metrics';
import type { ServerMetrics } from '../../lib/types';

interface Props {
  /** Live client figures of the current/last streamed answer. */
  live: MetricsSnapshot | null;
  isStreaming: boolean;
  /** Server figures of the last answer, shown when there are no live figures (restored chat). */
  lastServerMetrics: ServerMetrics | null;
}

function PerformanceMetricsImpl({ live, isStreaming, lastServerMetrics }: Props) {
  let text: string;
  let note: string;
  if (live) {
    text = formatPerfLine(live);
    note = isStreaming ? 'live' : live.tokensEstimated ? 'last reply · tokens estimated' : 'last reply';
  } else if (lastServerMetrics) {
    text = formatPerfLine({
      tokensPerSecond: lastServerMetrics.decode_tokens_per_s,
      ttftMs: lastServerMetrics.ttft_ms,
      tokens: lastServerMetrics.completion_tokens,
    });
    note = 'last reply · server-measured';
  } else {
    text = formatPerfLine({ tokensPerSecond: null, ttftMs: null, tokens: null });
    note = 'no reply yet';
  }
  return (
    <div className={`perf ${isStreaming ? 'perf-live' : ''}`} aria-label="Performance">
      <span className="perf-label">Performance:</span>{' '}
      <span data-testid="perf-line" className="perf-line">
        {text}
      </span>
      <span className="perf-note">{note}</span>
    </div>
  );
}

export const PerformanceMetrics = memo(PerformanceMetricsImpl);
export default PerformanceMetrics;
