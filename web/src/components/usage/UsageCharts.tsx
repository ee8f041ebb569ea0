// The usage page's charts: tokens per hour of the busiest models, TTFT and latency per model.

import { useEffect, useState } from 'react';
import * as adminApi from '../../lib/admin-api';
import type { UsageFilters } from '../../lib/admin-api';
import type { UsageGroup } from '../../lib/types';
import { BarChart } from '../charts/BarChart';
import { LineChart, type LineSeries } from '../charts/LineChart';
import { InlineError } from '../InlineError';

const MAX_CHART_MODELS = 6;

export function UsageCharts({ filters }: { filters: UsageFilters }) {
  const [modelGroups, setModelGroups] = useState<UsageGroup[]>([]);
  const [series, setSeries] = useState<LineSeries[]>([]);
  const [chartsError, setChartsError] = useState<string | null>(null);

  // Per-model aggregates, then tokens per hour for the busiest models.
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const byModel = await adminApi.groupUsage(filters, 'model');
        if (cancelled) return;
        setModelGroups(byModel);
        const top = [...byModel]
          .filter((g) => g.key)
          .sort((a, b) => (b.total_tokens ?? 0) - (a.total_tokens ?? 0))
          .slice(0, MAX_CHART_MODELS);
        const hourly = await Promise.all(
          top.map((g) => adminApi.groupUsage({ ...filters, model: String(g.key) }, 'hour')),
        );
        if (cancelled) return;
        setSeries(
          top.map((g, i) => ({
            name: String(g.key),
            points: hourly[i]
              .map((h) => ({ x: Date.parse(String(h.key)), y: h.total_tokens ?? 0 }))
              .filter((p) => Number.isFinite(p.x)),
          })),
        );
        setChartsError(null);
      } catch (e) {
        if (!cancelled) setChartsError(e instanceof Error ? e.message : 'Could not load chart data.');
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [filters]);

  const chartModels = modelGroups.filter((g) => g.key).slice(0, 12);

  return (
    <section className="card">
      <h2>Charts</h2>
      <InlineError message={chartsError} />
      <div className="charts">
        <div>
          <h3>Tokens per hour by model</h3>
          <LineChart series={series} title="Total tokens per hour, per model" yLabel="tokens" />
        </div>
        <div>
          <h3>TTFT by model (p50 / p95)</h3>
          <BarChart
            title="Time to first token p50 and p95 per model, milliseconds"
            categories={chartModels.map((g) => String(g.key))}
            series={[
              { name: 'TTFT p50', values: chartModels.map((g) => g.ttft_p50_ms) },
              { name: 'TTFT p95', values: chartModels.map((g) => g.ttft_p95_ms) },
            ]}
            unit="ms"
          />
        </div>
        <div>
          <h3>Latency by model (p50 / p95)</h3>
          <BarChart
            title="End-to-end latency p50 and p95 per model, milliseconds"
            categories={chartModels.map((g) => String(g.key))}
            series={[
              { name: 'Latency p50', values: chartModels.map((g) => g.latency_p50_ms) },
              { name: 'Latency p95', values: chartModels.map((g) => g.latency_p95_ms) },
            ]}
            unit="ms"
          />
        </div>
      </div>
    </section>
  );
}
