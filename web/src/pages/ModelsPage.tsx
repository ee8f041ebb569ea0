import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { FormStatus } from '../components/FormStatus';
import { InlineError } from '../components/InlineError';
import { optionsOf, SelectField } from '../components/SelectField';
import { useFormStatus } from '../hooks/useFormStatus';
import { useRunningModels } from '../hooks/useRunningModels';
import * as adminApi from '../lib/admin-api';
import { useAuth } from '../lib/auth';
import { formatDateTime, formatInt, formatMs, relativeTime } from '../lib/format';
import type { Health, Upstream } from '../lib/types';

const ENGINES = ['vllm', 'llamacpp', 'openai'] as const;

function HealthBadge({ health }: { health: Health | null }) {
  const status = health?.status ?? 'unknown';
  return <span className={`badge health-${status}`}>{status}</span>;
}

function HistoryDots({ history }: { history: Health[] }) {
  // Oldest to newest, left to right (the gateway lists the newest first).
  const items = [...history]
    .sort((a, b) => Date.parse(a.checked_at ?? '') - Date.parse(b.checked_at ?? ''))
    .slice(-20);
  if (!items.length) return <span className="muted">—</span>;
  const summary = items.map((h) => h.status).join(', ');
  return (
    <span className="history-dots" role="img" aria-label={`Recent health checks: ${summary}`}>
      {items.map((h, i) => (
        <span
          key={`${h.checked_at ?? ''}-${i}`}
          className={`dot health-${h.status}`}
          title={`${h.status}${h.latency_ms != null ? ` · ${formatMs(h.latency_ms)}` : ''}${
            h.checked_at ? ` · ${formatDateTime(h.checked_at)}` : ''
          }${h.last_error ? ` · ${h.last_error}` : ''}`}
        />
      ))}
    </span>
  );
}

function RunningModels() {
  const { models, loaded, error } = useRunningModels();
  return (
    <section className="card">
      <h2>Running models</h2>
      <InlineError message={error} />
      {loaded && models.length === 0 && !error && <p className="muted">No models running.</p>}
      {models.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Engine</th>
                <th scope="col">Task</th>
                <th scope="col">State</th>
                <th scope="col">Context</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.served_model_name}>
                  <td className="mono nowrap">{m.served_model_name}</td>
                  <td>{m.engine_type}</td>
                  <td>{m.task}</td>
                  <td>
                    <span className={`badge health-${m.state}`}>{m.state}</span>
                  </td>
                  <td>{m.max_model_len ? formatInt(m.max_model_len) : '—'}</td>
                  <td>
                    <Link to="/chat">Chat</Link>{' '}
                    <Link to={`/bench?model=${encodeURIComponent(m.served_model_name)}`} aria-label={`Benchmark ${m.served_model_name}`}>
                      Benchmark
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function AddUpstreamForm({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [engine, setEngine] = useState<string>('vllm');
  const [apiKey, setApiKey] = useState('');
  const [contextSize, setContextSize] = useState('');
  const [maxTokens, setMaxTokens] = useState('');
  const status = useFormStatus('Could not add the upstream.');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || !baseUrl.trim()) return status.reject('Name and base URL are required.');
    const body: Record<string, unknown> = {
      served_model_name: name.trim(),
      base_url: baseUrl.trim(),
      engine_type: engine,
    };
    if (apiKey.trim()) body.api_key = apiKey.trim();
    if (contextSize.trim()) {
      const n = Number(contextSize);
      if (!Number.isInteger(n) || n <= 0) return status.reject('Context size must be a positive whole number.');
      body.context_size = n;
    }
    if (maxTokens.trim()) {
      const n = Number(maxTokens);
      if (!Number.isInteger(n) || n <= 0) return status.reject('Max tokens default must be a positive whole number.');
      body.max_tokens_default = n;
    }
    void status.submit(async () => {
      await adminApi.createUpstream(body);
      setName('');
      setBaseUrl('');
      setApiKey('');
      setContextSize('');
      setMaxTokens('');
      onAdded();
      return `Added ${name.trim()}.`;
    });
  };

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="add-upstream-title">
      <h2 id="add-upstream-title" className="form-title">
        Add upstream
      </h2>
      <div className="field">
        <label htmlFor="up-name">Name</label>
        <input id="up-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Qwen-2-7B-Instruct" required />
      </div>
      <div className="field">
        <label htmlFor="up-url">Base URL</label>
        <input
          id="up-url"
          value={baseUrl}
          onChange={(e) => setBaseUrl(e.target.value)}
          placeholder="http://127.0.0.1:8000"
          required
        />
      </div>
      <SelectField id="up-engine" label="Engine" value={engine} onChange={setEngine} options={optionsOf(ENGINES)} />
      <div className="field">
        <label htmlFor="up-context">Context size</label>
        <input
          id="up-context"
          inputMode="numeric"
          value={contextSize}
          onChange={(e) => setContextSize(e.target.value)}
          placeholder="from the server"
        />
      </div>
      <div className="field">
        <label htmlFor="up-max-tokens">Max tokens default</label>
        <input
          id="up-max-tokens"
          inputMode="numeric"
          value={maxTokens}
          onChange={(e) => setMaxTokens(e.target.value)}
          placeholder="512"
        />
      </div>
      <div className="field">
        <label htmlFor="up-key">API key (optional)</label>
        <input id="up-key" type="password" autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
      </div>
      <div className="field field-actions">
        <button type="submit" className="btn btn-primary" disabled={status.busy}>
          {status.busy ? 'Adding…' : 'Add upstream'}
        </button>
      </div>
      <FormStatus error={status.error} done={status.done} />
    </form>
  );
}

function UpstreamsAdmin() {
  const [upstreams, setUpstreams] = useState<Upstream[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [lastRefresh, setLastRefresh] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setUpstreams(await adminApi.listUpstreams());
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not load upstreams.');
    } finally {
      setLoaded(true);
    }
  }, []);

  useEffect(() => {
    void load();
    const t = window.setInterval(() => {
      if (!document.hidden) void load();
    }, 15_000);
    return () => window.clearInterval(t);
  }, [load]);

  const refresh = async () => {
    setRefreshing(true);
    try {
      await adminApi.refreshHealth();
      setLastRefresh(new Date().toISOString());
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Health refresh failed.');
    } finally {
      setRefreshing(false);
    }
  };

  const remove = async (name: string) => {
    try {
      await adminApi.deleteUpstream(name);
      setConfirming(null);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not remove the upstream.');
    }
  };

  return (
    <>
      <section className="card">
        <div className="card-head">
          <h2>Upstreams</h2>
          <div className="card-actions">
            {lastRefresh && <span className="muted small">Refreshed {relativeTime(lastRefresh)}</span>}
            <button type="button" className="btn" onClick={() => void refresh()} disabled={refreshing}>
              {refreshing ? 'Refreshing…' : 'Refresh health'}
            </button>
          </div>
        </div>
        <InlineError message={error} />
        {loaded && upstreams.length === 0 && !error && <p className="muted">No upstreams registered yet.</p>}
        {upstreams.length > 0 && (
          <div className="table-wrap">
            <table className="table" data-testid="upstreams-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Engine</th>
                  <th scope="col">Base URL</th>
                  <th scope="col">Health</th>
                  <th scope="col">Latency</th>
                  <th scope="col">Failures</th>
                  <th scope="col">Last error</th>
                  <th scope="col">History</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {upstreams.map((u) => (
                  <tr key={u.served_model_name}>
                    <td className="mono nowrap">{u.served_model_name}</td>
                    <td>{u.engine_type}</td>
                    <td className="mono small break">{u.base_url}</td>
                    <td>
                      <HealthBadge health={u.health} />
                      {u.health?.checked_at && (
                        <div className="muted small">{relativeTime(u.health.checked_at)}</div>
                      )}
                    </td>
                    <td>{formatMs(u.health?.latency_ms)}</td>
                    <td>{u.health ? formatInt(u.health.consecutive_failures ?? 0) : '—'}</td>
                    <td className="small break last-error">{u.health?.last_error || '—'}</td>
                    <td>
                      <HistoryDots history={u.history ?? []} />
                    </td>
                    <td className="nowrap">
                      {confirming === u.served_model_name ? (
                        <>
                          <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(u.served_model_name)}>
                            Confirm remove
                          </button>{' '}
                          <button type="button" className="btn btn-small" onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          aria-label={`Remove ${u.served_model_name}`}
                          onClick={() => setConfirming(u.served_model_name)}
                        >
                          Remove
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <AddUpstreamForm onAdded={() => void load()} />
    </>
  );
}

export function ModelsPage() {
  const { isAdmin } = useAuth();
  return (
    <div className="page">
      <h1>Models</h1>
      <RunningModels />
      {isAdmin && <UpstreamsAdmin />}
    </div>
  );
}

export default ModelsPage;
