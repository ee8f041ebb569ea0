// A comparison: its server state (panes are chat sessions), one turn streamed to every pane at
// once, stop, votes. Streaming and the live figures are the chat's (streamChat, readAnswer).

import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../lib/api';
import { stopCompletion, streamChat } from '../lib/chat-client';
import {
  addTurn,
  castVote,
  createComparison,
  getComparison,
  panePath,
  type Comparison,
  type CreateComparisonBody,
  type Sampling,
  type VoteChoice,
} from '../lib/compare-api';
import { emptyTurnResult, failTurn, friendlyError, readAnswer, sleep } from './chatTurn';
import { answered, idlePane, PaneMetrics, paneRequest, paneSampling, type PaneLive } from './compareTurn';
import { STOP_GRACE_MS } from './useChat';

const SYNC_DELAYS_MS = [0, 300, 700, 1500, 3000];

interface Options {
  routeId: string | null;
  onCreated: (c: Comparison) => void;
}

export function useCompare({ routeId, onCreated }: Options) {
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<PaneLive[]>([]);
  const [streaming, setStreaming] = useState(false);
  const comparisonRef = useRef<Comparison | null>(null);
  comparisonRef.current = comparison;
  const controllers = useRef<AbortController[]>([]);
  const completionIds = useRef<(string | null)[]>([]);

  const load = useCallback(async (id: string, signal?: AbortSignal) => {
    setLoading(true);
    setError(null);
    try {
      const c = await getComparison(id, signal);
      if (!signal?.aborted) setComparison(c);
    } catch (e) {
      if (signal?.aborted) return;
      setError(
        e instanceof ApiError && e.status === 404
          ? 'This comparison does not exist (or belongs to another user).'
          : `Could not load this comparison: ${e instanceof Error ? e.message : e}`,
      );
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (routeId === null) {
      setComparison(null);
      setLive([]);
      return;
    }
    if (comparisonRef.current?.id === routeId) return;
    const ctrl = new AbortController();
    setLive([]);
    void load(routeId, ctrl.signal);
    return () => ctrl.abort();
  }, [routeId, load]);

  useEffect(() => () => controllers.current.forEach((c) => c.abort()), []);

  /** Re-read until every pane's answer to turn `turn` is saved (the gateway saves it at the end). */
  const syncAfterTurn = useCallback(async (id: string, turn: number) => {
    for (const delay of SYNC_DELAYS_MS) {
      if (delay) await sleep(delay);
      try {
        const c = await getComparison(id);
        const done = c.panes.every((p) => answered(p, turn));
        if (done || delay === SYNC_DELAYS_MS[SYNC_DELAYS_MS.length - 1]) {
          setComparison(c);
          return done;
        }
      } catch {
        /* try again */
      }
    }
    return false;
  }, []);

  const runPane = useCallback(
    async (c: Comparison, index: number, prompt: string, sampling: Sampling) => {
      const metrics = new PaneMetrics();
      const controller = new AbortController();
      controllers.current[index] = controller;
      completionIds.current[index] = null;
      const result = emptyTurnResult();
      const update = (patch: Partial<PaneLive>) =>
        setLive((all) => all.map((p, i) => (i === index ? { ...p, ...patch } : p)));
      const progress = () =>
        update({ content: result.content, live: metrics.snapshot(), itlMs: metrics.itlMs });
      metrics.start();
      try {
        const stream = streamChat({
          model: '',
          messages: paneRequest(c.panes[index], prompt),
          temperature: sampling.temperature ?? undefined,
          top_p: sampling.top_p ?? undefined,
          max_tokens: sampling.max_tokens ?? undefined,
          path: panePath(c.id, index),
          signal: controller.signal,
          onCompletionId: (id) => {
            completionIds.current[index] = id;
          },
        });
        await readAnswer(stream, result, metrics, progress);
      } catch (e) {
        failTurn(result, e, controller.signal);
      }
      metrics.finish();
      const failed = result.failure ? friendlyError(result.failure) : result.streamError;
      update({
        content: result.content,
        live: metrics.snapshot(),
        itlMs: metrics.itlMs,
        server: result.serverMetrics,
        error: failed,
        streaming: false,
        stopped: result.aborted || result.serverMetrics?.status === 'stopped',
      });
    },
    [],
  );

  /** Send `prompt` to every pane at once (creating the comparison first when it is new). */
  const send = useCallback(
    async (prompt: string, settings: Sampling[], same: boolean, setup: CreateComparisonBody | null) => {
      if (streaming || !prompt.trim()) return;
      setError(null);
      setStreaming(true);
      try {
        let c = comparisonRef.current;
        if (!c) {
          if (!setup) return;
          c = await createComparison(setup);
          setComparison(c);
          onCreated(c);
        }
        const sampling = c.panes.map((_, i) => paneSampling(settings, i, same));
        const turn = await addTurn(c.id, prompt, sampling);
        setLive(c.panes.map(() => idlePane(prompt)));
        const current = c;
        // Every pane on its own: one failing never stalls the others.
        await Promise.allSettled(current.panes.map((_, i) => runPane(current, i, prompt, sampling[i])));
        await syncAfterTurn(current.id, turn.turn);
      } catch (e) {
        setError(e instanceof ApiError ? friendlyError(e) : e instanceof Error ? e.message : 'The turn failed.');
      } finally {
        setStreaming(false);
      }
    },
    [streaming, onCreated, runPane, syncAfterTurn],
  );

  /** Stop every pane: each keeps what it generated so far (saved as stopped). */
  const stop = useCallback(() => {
    controllers.current.forEach((controller, index) => {
      if (controller.signal.aborted) return;
      const id = completionIds.current[index];
      if (!id) {
        controller.abort();
        return;
      }
      // Asked to stop, the gateway ends the stream cleanly; if it cannot, the request is aborted.
      window.setTimeout(() => controller.abort(), STOP_GRACE_MS);
      void stopCompletion(id).then((ok) => {
        if (!ok) controller.abort();
      });
    });
  }, []);

  const vote = useCallback(async (turn: number, choice: VoteChoice, pane: number | null) => {
    const c = comparisonRef.current;
    if (!c) return;
    try {
      setComparison(await castVote(c.id, turn, choice, pane));
    } catch (e) {
      setError(e instanceof Error ? e.message : 'The vote was not saved.');
    }
  }, []);

  return { comparison, loading, error, live, streaming, send, stop, vote, setError };
}
