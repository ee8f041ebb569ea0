import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { InlineError } from '../components/InlineError';
import { ComparePane } from '../components/compare/ComparePane';
import { PaneSettings } from '../components/compare/PaneSettings';
import { VoteBar } from '../components/compare/VoteBar';
import { DEFAULT_SAMPLING, MAX_PANES, MIN_PANES, setupBody, setupProblem, type Setup } from '../hooks/compareSetup';
import { useCompare } from '../hooks/useCompare';
import { useComparePrefill } from '../hooks/useComparePrefill';
import { useRunningModels } from '../hooks/useRunningModels';
import { deleteComparison, listComparisons, type Comparison, type ComparisonSummary, type Sampling } from '../lib/compare-api';
import { downloadComparison } from '../lib/compare-export';
import { relativeTime } from '../lib/format';

const EMPTY_SETUP: Setup = { models: ['', ''], blind: false, systemPrompt: '', messages: [], fromSession: null };

export function ComparePage() {
  const { id } = useParams();
  const routeId = id ?? null;
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const { models: running } = useRunningModels();
  const onCreated = useCallback((c: Comparison) => navigate(`/compare/${c.id}`, { replace: true }), [navigate]);
  const { comparison, loading, error, live, streaming, send, stop, vote, setError } = useCompare({ routeId, onCreated });
  const { prefill, error: prefillError } = useComparePrefill(search.get('from_session'), search.get('message'));

  const [setup, setSetup] = useState<Setup>(EMPTY_SETUP);
  const [sampling, setSampling] = useState<Sampling[]>([DEFAULT_SAMPLING, DEFAULT_SAMPLING]);
  const [same, setSame] = useState(true);
  const [syncScroll, setSyncScroll] = useState(true);
  const [draft, setDraft] = useState('');
  const [recent, setRecent] = useState<ComparisonSummary[]>([]);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const scrollers = useRef<(HTMLDivElement | null)[]>([]);
  const syncing = useRef(false);

  // Fill the first panes with running models (the prefill's model in pane A).
  useEffect(() => {
    if (routeId || running.length === 0) return;
    setSetup((s) => {
      if (s.models.some(Boolean)) return s;
      const names = running.map((m) => m.served_model_name);
      return { ...s, models: s.models.map((_, i) => names[i % names.length]) };
    });
  }, [routeId, running]);

  useEffect(() => {
    if (!prefill) return;
    setSetup((s) => ({
      ...s,
      models: [prefill.model, ...s.models.slice(1)],
      systemPrompt: prefill.systemPrompt,
      messages: prefill.messages,
      fromSession: prefill.fromSession,
    }));
    if (prefill.draft) setDraft(prefill.draft);
  }, [prefill]);

  // A saved comparison: its panes' settings for the next turns.
  useEffect(() => {
    if (!comparison) return;
    setSampling(comparison.panes.map((p) => p.sampling));
    setSame(comparison.panes.every((p) => JSON.stringify(p.sampling) === JSON.stringify(comparison.panes[0].sampling)));
  }, [comparison?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (routeId) return;
    const ctrl = new AbortController();
    listComparisons(ctrl.signal).then(setRecent, () => undefined);
    return () => ctrl.abort();
  }, [routeId]);

  const paneCount = comparison ? comparison.panes.length : setup.models.length;
  const setPaneSampling = (i: number, s: Sampling) =>
    setSampling((all) => (same ? all.map(() => s) : all.map((x, j) => (j === i ? s : x))));
  const addPane = () => {
    setSetup((s) => ({ ...s, models: [...s.models, running[s.models.length % Math.max(1, running.length)]?.served_model_name ?? ''] }));
    setSampling((all) => [...all, all[0] ?? DEFAULT_SAMPLING]);
  };
  const removePane = (i: number) => {
    setSetup((s) => ({ ...s, models: s.models.filter((_, j) => j !== i) }));
    setSampling((all) => all.filter((_, j) => j !== i));
  };

  const problem = comparison ? null : setupProblem(setup);
  const submit = () => {
    if (!draft.trim() || streaming || problem) return;
    const prompt = draft;
    setDraft('');
    void send(prompt, sampling, same, comparison ? null : setupBody(setup, sampling, same, prompt));
  };

  const onPaneScroll = (index: number) => {
    if (!syncScroll || syncing.current) return;
    const source = scrollers.current[index];
    if (!source) return;
    const ratio = source.scrollTop / Math.max(1, source.scrollHeight - source.clientHeight);
    syncing.current = true;
    scrollers.current.forEach((el, j) => {
      if (el && j !== index) el.scrollTop = ratio * (el.scrollHeight - el.clientHeight);
    });
    requestAnimationFrame(() => {
      syncing.current = false;
    });
  };

  const remove = async () => {
    if (!comparison) return;
    try {
      await deleteComparison(comparison.id);
      setConfirmDelete(false);
      navigate('/compare');
    } catch (e) {
      setConfirmDelete(false);
      setError(e instanceof Error ? e.message : 'Could not delete the comparison.');
    }
  };

  return (
    <div className="page compare-page" data-testid="compare-page">
      <header className="compare-head">
        <h1>{comparison ? comparison.title : 'Compare models'}</h1>
        <div className="compare-toggles">
          <label>
            <input type="checkbox" checked={syncScroll} onChange={(e) => setSyncScroll(e.target.checked)} /> Scroll
            together
          </label>
          <label>
            <input type="checkbox" data-testid="same-settings" checked={same} onChange={(e) => {
              setSame(e.target.checked);
              if (e.target.checked) setSampling((all) => all.map(() => all[0]));
            }} /> Same settings for every pane
          </label>
          {!comparison && (
            <label>
              <input
                type="checkbox"
                data-testid="blind-mode"
                checked={setup.blind}
                onChange={(e) => setSetup((s) => ({ ...s, blind: e.target.checked }))}
              />{' '}
              Blind (models hidden until you vote)
            </label>
          )}
        </div>
        {comparison && (
          <div className="compare-actions">
            <button type="button" className="btn btn-small" onClick={() => downloadComparison(comparison, 'json')}>
              Export JSON
            </button>
            <button type="button" className="btn btn-small" onClick={() => downloadComparison(comparison, 'md')}>
              Export Markdown
            </button>
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
            <Link to="/compare" className="btn btn-small">
              + New comparison
            </Link>
          </div>
        )}
      </header>
      <InlineError message={error ?? prefillError} />
      {loading && <p className="muted">Loading comparison…</p>}

      <details className="compare-settings" open={!comparison}>
        <summary>{comparison ? 'Sampling settings for the next turns' : 'Panes and settings'}</summary>
        <div className="compare-settings-grid">
          {Array.from({ length: paneCount }, (_, i) => (
            <PaneSettings
              key={i}
              index={i}
              label={comparison ? comparison.panes[i].label : `Pane ${String.fromCharCode(65 + i)}`}
              model={comparison ? (comparison.panes[i].model_name ?? '') : setup.models[i]}
              models={comparison ? null : running}
              sampling={(same ? sampling[0] : sampling[i]) ?? DEFAULT_SAMPLING}
              disabled={streaming}
              samplingLocked={same && i > 0}
              onModel={(name) => setSetup((s) => ({ ...s, models: s.models.map((m, j) => (j === i ? name : m)) }))}
              onSampling={(s) => setPaneSampling(i, s)}
              onRemove={!comparison && paneCount > MIN_PANES ? () => removePane(i) : undefined}
            />
          ))}
        </div>
        {!comparison && (
          <>
            {paneCount < MAX_PANES && (
              <button type="button" className="btn btn-small" data-testid="add-pane" onClick={addPane}>
                + Add pane
              </button>
            )}
            <div className="field field-wide">
              <label htmlFor="compare-system-prompt">System prompt</label>
              <textarea
                id="compare-system-prompt"
                rows={2}
                value={setup.systemPrompt}
                onChange={(e) => setSetup((s) => ({ ...s, systemPrompt: e.target.value }))}
              />
            </div>
            {setup.messages.length > 0 && (
              <p className="hint" data-testid="prefill-note">
                Every pane starts from the chat's {setup.messages.length} earlier messages.
              </p>
            )}
          </>
        )}
      </details>

      {comparison && (
        <div className="compare-panes" style={{ gridTemplateColumns: `repeat(${comparison.panes.length}, minmax(0, 1fr))` }}>
          {comparison.panes.map((pane, i) => (
            <ComparePane
              key={pane.session_id}
              ref={(el) => {
                scrollers.current[i] = el;
              }}
              pane={pane}
              live={live[i] ?? null}
              turnRunning={streaming}
              onScroll={() => onPaneScroll(i)}
            />
          ))}
        </div>
      )}
      {comparison && !streaming && <VoteBar comparison={comparison} disabled={streaming} onVote={(t, c, p) => void vote(t, c, p)} />}

      <form
        className="compare-input"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <textarea
          aria-label="Prompt"
          data-testid="compare-prompt"
          rows={2}
          value={draft}
          placeholder={comparison ? 'A follow-up for every pane…' : 'A prompt for every pane…'}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              submit();
            }
          }}
        />
        {streaming ? (
          <button type="button" className="btn" data-testid="compare-stop" onClick={stop}>
            Stop all
          </button>
        ) : (
          <button type="submit" className="btn btn-primary" data-testid="compare-send" disabled={!draft.trim() || !!problem}>
            Send to all
          </button>
        )}
      </form>
      {problem && <p className="hint">{problem}</p>}

      {!comparison && !routeId && recent.length > 0 && (
        <section className="compare-recent">
          <h2>Recent comparisons</h2>
          <ul>
            {recent.map((c) => (
              <li key={c.id} data-testid="recent-comparison">
                <Link to={`/compare/${c.id}`}>{c.title}</Link>{' '}
                <span className="muted small">
                  {c.models ? c.models.join(' vs ') : `${c.pane_count} hidden models`} · {relativeTime(c.updated_at)}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <ConfirmDialog
        open={confirmDelete}
        title="Delete this comparison?"
        confirmLabel="Delete comparison"
        danger
        onConfirm={() => void remove()}
        onCancel={() => setConfirmDelete(false)}
      >
        <p>This deletes the comparison, its votes and every pane's messages. This cannot be undone.</p>
      </ConfirmDialog>
    </div>
  );
}

export default ComparePage;
