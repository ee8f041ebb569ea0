// /bench?model=M: start a benchmark run on a running model; the runs of that model (or all).

import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { RunForm } from '../components/bench/RunForm';
import { RunsTable } from '../components/bench/RunsTable';
import { InlineError } from '../components/InlineError';
import { SelectField } from '../components/SelectField';
import { useRunningModels } from '../hooks/useRunningModels';
import { listRuns, type RunSummary } from '../lib/bench-api';

export function BenchPage() {
  const [params, setParams] = useSearchParams();
  const model = params.get('model') ?? '';
  const { models } = useRunningModels();
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    listRuns(model || undefined)
      .then((list) => !cancelled && (setRuns(list), setError(null)))
      .catch((e: unknown) => !cancelled && setError(e instanceof Error ? e.message : 'Could not load runs.'));
    return () => {
      cancelled = true;
    };
  }, [model]);

  const options = [
    { value: '', label: 'Choose a running model' },
    ...models.map((m) => ({ value: m.served_model_name, label: m.served_model_name })),
  ];
  return (
    <div className="page">
      <h1>Benchmark runs</h1>
      <p className="muted">
        Load a running model through the gateway, like real traffic, and measure it the way vLLM <code>bench serve</code> does.
      </p>
      <section className="card">
        <SelectField id="bench-model" label="Model" value={model} onChange={(v) => setParams(v ? { model: v } : {})} options={options} />
      </section>
      {model && <RunForm key={model} model={model} />}
      <section className="card">
        <h2>{model ? `Runs on ${model}` : 'All your runs'}</h2>
        <InlineError message={error} />
        <RunsTable runs={runs} />
      </section>
    </div>
  );
}
