// /bench/runs/:id: progress and Cancel while it runs; the results table, the charts, a run to
// compare with, and the exports.

import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { RunCharts } from '../components/bench/RunCharts';
import { RunResults } from '../components/bench/RunResults';
import { InlineError } from '../components/InlineError';
import { SelectField } from '../components/SelectField';
import { isActive, progressOf } from '../lib/bench';
import { cancelRun, exportUrl, getRun, listRuns, type RunSummary, type RunView } from '../lib/bench-api';
import { formatDateTime } from '../lib/format';

const POLL_MS = 700;

function Progress({ run }: { run: RunView }) {
  const share = progressOf(run);
  const p = run.progress;
  const where =
    run.summary.status === 'queued'
      ? 'Waiting for a bench replica…'
      : p
        ? `${p.levels ? `Level ${p.level + 1} of ${p.levels}` : `Search step ${p.level + 1}`}: ${p.done}${p.total ? ` of ${p.total}` : ''} requests`
        : 'Starting…';
  return (
    <div>
      <div className="progress" role="progressbar" aria-label="Run progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
        <span style={{ width: `${Math.round(share * 100)}%` }} />
      </div>
      <p className="muted small">{where}</p>
    </div>
  );
}

export function BenchRunPage() {
  const { id = '' } = useParams();
  const [run, setRun] = useState<RunView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [others, setOthers] = useState<RunSummary[]>([]);
  const [compareId, setCompareId] = useState('');
  const [other, setOther] = useState<RunView | null>(null);
  const [cancelling, setCancelling] = useState(false);

  const load = useCallback(async () => {
    try {
      setRun(await getRun(id));
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not load the run.');
    }
  }, [id]);

  const active = run ? isActive(run.summary.status) : true;
  useEffect(() => {
    void load();
    if (!active) return undefined;
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [load, active]);

  const model = run?.summary.model;
  useEffect(() => {
    if (!model || active) return;
    listRuns(model)
      .then((list) => setOthers(list.filter((r) => r.id !== id && r.status === 'complete')))
      .catch(() => setOthers([]));
  }, [model, id, active]);

  useEffect(() => {
    if (!compareId) {
      setOther(null);
      return;
    }
    getRun(compareId).then(setOther, () => setOther(null));
  }, [compareId]);

  const cancel = async () => {
    setCancelling(true);
    try {
      await cancelRun(id);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not cancel.');
    } finally {
      setCancelling(false);
    }
  };

  if (!run) {
    return (
      <div className="page">
        <h1>Benchmark run</h1>
        <InlineError message={error} />
        {!error && <p className="muted">Loading…</p>}
      </div>
    );
  }
  const s = run.settings;
  return (
    <div className="page">
      <p>
        <Link to={`/bench?model=${encodeURIComponent(run.summary.model)}`}>← Runs on {run.summary.model}</Link>
      </p>
      <h1>
        Benchmark run on <span className="mono">{run.summary.model}</span>{' '}
        <span className={`badge run-${run.summary.status}`}>{run.summary.status}</span>
      </h1>
      <InlineError message={error ?? run.summary.error ?? null} />
      <section className="card">
        <p className="small">
          {formatDateTime(run.summary.created_at)} · {s.shape} {(s.levels ?? []).join(', ')} ·{' '}
          {s.requests_per_level ? `${s.requests_per_level} requests` : `${s.duration_per_level_sec} s`} per level · prompt {s.prompt?.kind ?? 'fixed'} ·
          output ≤ {s.output_tokens} tokens · seed {s.seed} · engine {run.engine_type} {run.engine_version ?? ''}
          {run.max_context ? ` · context ${run.max_context}` : ''} · gateway {run.gateway_version}
          {run.summary.best_load != null ? ` · largest concurrency meeting the SLOs: ${run.summary.best_load}` : ''}
        </p>
        {active && (
          <>
            <Progress run={run} />
            <button type="button" className="btn btn-danger" onClick={() => void cancel()} disabled={cancelling}>
              {cancelling ? 'Cancelling…' : 'Cancel run'}
            </button>
          </>
        )}
        {!active && (
          <p>
            <a className="btn btn-small" href={exportUrl(id, 'json')} download>
              Export JSON
            </a>{' '}
            <a className="btn btn-small" href={exportUrl(id, 'csv')} download>
              Export CSV
            </a>
          </p>
        )}
      </section>
      <section className="card">
        <h2>Results</h2>
        <RunResults run={run} />
      </section>
      <section className="card">
        <h2>Charts</h2>
        {!active && (
          <SelectField
            id="bench-compare"
            label="Compare with"
            value={compareId}
            onChange={setCompareId}
            options={[
              { value: '', label: 'no other run' },
              ...others.map((r) => ({ value: r.id, label: `${formatDateTime(r.created_at)} · ${r.shape} ${r.levels.join(', ')}` })),
            ]}
          />
        )}
        <RunCharts run={run} other={other} />
      </section>
    </div>
  );
}
