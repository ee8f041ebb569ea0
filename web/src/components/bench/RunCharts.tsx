// A run's charts: throughput and latency percentiles against the load, the engine's gauges over
// time; a second run, when chosen, is drawn dashed on the same charts.

import { useMemo } from 'react';
import { DEFINITIONS, isActive, loadLabel, percentilePoints, pointsOf } from '../../lib/bench';
import type { RunView } from '../../lib/bench-api';
import { LineChart, type LineSeries } from '../charts/LineChart';

const short = (run: RunView) => `${run.summary.model} ${run.summary.created_at.slice(0, 16).replace('T', ' ')}`;

function throughput(run: RunView, dashed: boolean, tag: string): LineSeries[] {
  return [
    { name: `${tag}output tok/s`, points: pointsOf(run.levels, (s) => s.output_throughput), dashed, color: 0, note: DEFINITIONS['out tok/s'] },
    { name: `${tag}total tok/s`, points: pointsOf(run.levels, (s) => s.total_token_throughput), dashed, color: 1 },
  ];
}

function latency(run: RunView, dashed: boolean, tag: string): LineSeries[] {
  return [
    { name: `${tag}TTFT p50`, points: percentilePoints(run.levels, 'ttft_ms', 'median'), dashed, color: 0, note: 'vLLM TTFT' },
    { name: `${tag}TTFT p99`, points: percentilePoints(run.levels, 'ttft_ms', 'p99'), dashed, color: 1 },
    { name: `${tag}TPOT p50`, points: percentilePoints(run.levels, 'tpot_ms', 'median'), dashed, color: 2, note: 'vLLM TPOT: (E2EL−TTFT)/(out−1)' },
    { name: `${tag}E2EL p50`, points: percentilePoints(run.levels, 'e2el_ms', 'median'), dashed, color: 3 },
    { name: `${tag}E2EL p99`, points: percentilePoints(run.levels, 'e2el_ms', 'p99'), dashed, color: 4 },
  ];
}

export function RunCharts({ run, other }: { run: RunView; other: RunView | null }) {
  const xLog = run.settings.shape !== 'rate';
  const tagB = other ? `B ${short(other)}: ` : '';
  const tagA = other ? 'A: ' : '';
  const throughputSeries = useMemo(
    () => [
      { name: `${tagA}req/s`, points: pointsOf(run.levels, (s) => s.request_throughput), color: 0 },
      ...(other ? [{ name: `${tagB}req/s`, points: pointsOf(other.levels, (s) => s.request_throughput), dashed: true, color: 0 }] : []),
    ],
    [run, other, tagA, tagB],
  );
  const tokenSeries = useMemo(
    () => [...throughput(run, false, tagA), ...(other ? throughput(other, true, tagB) : [])],
    [run, other, tagA, tagB],
  );
  const latencySeries = useMemo(
    () => [...latency(run, false, tagA), ...(other ? latency(other, true, tagB) : [])],
    [run, other, tagA, tagB],
  );
  const engineSeries = useMemo<LineSeries[]>(() => {
    const samples = run.engine_samples;
    const series = (name: string, pick: (s: (typeof samples)[number]) => number | null | undefined) => ({
      name,
      points: samples
        .map((s) => ({ x: s.t_s, y: pick(s) }))
        .filter((p): p is { x: number; y: number } => p.y != null),
    });
    return [
      series('running requests', (s) => s.num_requests_running),
      series('waiting requests', (s) => s.num_requests_waiting),
      series('KV cache use (%)', (s) => (s.kv_cache_usage_perc == null ? null : s.kv_cache_usage_perc * 100)),
    ];
  }, [run]);
  const xLabel = loadLabel(run);
  const fx = (x: number) => String(+x.toFixed(2));
  return (
    <div className="charts" aria-label="Benchmark charts">
      <div>
        <h3>Request throughput vs {xLabel}</h3>
        <LineChart series={throughputSeries} title={`Requests per second against ${xLabel}`} xLabel={xLabel} yLabel="req/s" formatX={fx} xLog={xLog} />
      </div>
      <div>
        <h3>Token throughput vs {xLabel}</h3>
        <LineChart series={tokenSeries} title={`Tokens per second against ${xLabel}`} xLabel={xLabel} yLabel="tokens/s" formatX={fx} xLog={xLog} />
      </div>
      <div>
        <h3>Latency percentiles vs {xLabel}</h3>
        <LineChart series={latencySeries} title={`TTFT, TPOT and E2EL percentiles against ${xLabel}, ms`} xLabel={xLabel} yLabel="ms" formatX={fx} xLog={xLog} height={260} />
      </div>
      <div>
        <h3>Engine metrics over time</h3>
        {run.engine_samples.length ? (
          <LineChart series={engineSeries} title="The engine's running and waiting requests and KV-cache use during the run" xLabel="seconds into the run" formatX={fx} />
        ) : isActive(run.summary.status) ? (
          <p className="muted">No engine sample yet.</p>
        ) : (
          <p className="muted">The engine exposes no Prometheus metrics (vLLM's /metrics) to sample.</p>
        )}
      </div>
    </div>
  );
}
