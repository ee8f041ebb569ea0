import { useCallback, useEffect, useRef, useState } from 'react';
import { listRunningModels } from '../lib/chat-client';
import type { RunningModel } from '../lib/types';

export const RUNNING_MODELS_POLL_MS = 10_000;

/** GET /v1/models/running now and every 10 s (skipped while the tab is hidden). */
export function useRunningModels(intervalMs: number = RUNNING_MODELS_POLL_MS) {
  const [models, setModels] = useState<RunningModel[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inflight = useRef<AbortController | null>(null);

  const refresh = useCallback(async () => {
    inflight.current?.abort();
    const ctrl = new AbortController();
    inflight.current = ctrl;
    try {
      const list = await listRunningModels(ctrl.signal);
      if (ctrl.signal.aborted) return;
      setModels((prev) => (sameModels(prev, list) ? prev : list));
      setError(null);
    } catch (e) {
      if (ctrl.signal.aborted) return;
      setError(e instanceof Error ? e.message : 'Could not load running models.');
    } finally {
      if (inflight.current === ctrl) inflight.current = null;
      if (!ctrl.signal.aborted) setLoaded(true);
    }
  }, []);

  useEffect(() => {
    void refresh();
    const t = window.setInterval(() => {
      if (typeof document !== 'undefined' && document.hidden) return;
      void refresh();
    }, intervalMs);
    const onVisible = () => {
      if (!document.hidden) void refresh();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.clearInterval(t);
      document.removeEventListener('visibilitychange', onVisible);
      inflight.current?.abort();
    };
  }, [refresh, intervalMs]);

  return { models, loaded, error, refresh };
}

function sameModels(a: RunningModel[], b: RunningModel[]): boolean {
  if (a.length !== b.length) return false;
  return a.every(
    (m, i) =>
      m.served_model_name === b[i].served_model_name &&
      m.state === b[i].state &&
      m.max_model_len === b[i].max_model_len &&
      m.engine_type === b[i].engine_type,
  );
}
