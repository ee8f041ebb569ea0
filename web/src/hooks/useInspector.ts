// The inspector's state on the chat page: what every request asks for (logprobs, seed, schema,
// tools), the checks kept with the open chat, the batch run and the presets.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createPreset, deletePreset, getChecks, listPresets, saveChecks } from '../lib/inspect/api';
import { runBatch } from '../lib/inspect/batch';
import { parseJson, schemaProblem } from '../lib/inspect/schema';
import type { BatchReport, Preset, PresetBody, ToolSpec } from '../lib/inspect/types';

const STORAGE_KEY = 'cortex.inspect.settings';

export interface InspectorSettings {
  logprobs: boolean;
  topLogprobs: number;
  /** Empty: a new random seed per request (recorded with the answer either way). */
  seed: string;
  schemaText: string;
  askSchema: boolean;
  toolsText: string;
  sendTools: boolean;
}

export const DEFAULT_INSPECTOR: InspectorSettings = {
  logprobs: true,
  topLogprobs: 5,
  seed: '',
  schemaText: '',
  askSchema: false,
  toolsText: '',
  sendTools: false,
};

function stored(): InspectorSettings {
  try {
    const raw = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') as Partial<InspectorSettings>;
    return {
      ...DEFAULT_INSPECTOR,
      logprobs: typeof raw.logprobs === 'boolean' ? raw.logprobs : DEFAULT_INSPECTOR.logprobs,
      topLogprobs: typeof raw.topLogprobs === 'number' ? raw.topLogprobs : DEFAULT_INSPECTOR.topLogprobs,
    };
  } catch {
    return DEFAULT_INSPECTOR;
  }
}

const randomSeed = () => Math.floor(Math.random() * 2 ** 31);

function parsedSchema(text: string): { schema: Record<string, unknown> | null; problem: string | null } {
  if (!text.trim()) return { schema: null, problem: null };
  const parsed = parseJson(text);
  if (!parsed.ok) return { schema: null, problem: `Not JSON: ${parsed.error}` };
  const problem = schemaProblem(parsed.value);
  return problem ? { schema: null, problem } : { schema: parsed.value as Record<string, unknown>, problem: null };
}

function parsedTools(text: string): { tools: ToolSpec[] | null; problem: string | null } {
  if (!text.trim()) return { tools: null, problem: null };
  const parsed = parseJson(text);
  if (!parsed.ok) return { tools: null, problem: `Not JSON: ${parsed.error}` };
  const list = parsed.value;
  if (!Array.isArray(list) || !list.every((t) => t && typeof t === 'object' && (t as ToolSpec).function?.name)) {
    return { tools: null, problem: 'Tools must be a list of {"type": "function", "function": {"name", "parameters"}}.' };
  }
  for (const t of list as ToolSpec[]) {
    const params = t.function.parameters;
    const problem = params ? schemaProblem(params) : null;
    if (problem) return { tools: null, problem: `${t.function.name}: ${problem}` };
  }
  return { tools: list as ToolSpec[], problem: null };
}

export function useInspector(sessionId: string | null) {
  const [settings, setSettingsState] = useState<InspectorSettings>(stored);
  const [batch, setBatch] = useState<BatchReport | null>(null);
  const [batchProgress, setBatchProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [presets, setPresets] = useState<Preset[]>([]);
  const [savedAt, setSavedAt] = useState<string | null>(null);
  const settingsRef = useRef(settings);
  settingsRef.current = settings;

  const setSettings = useCallback((next: InspectorSettings) => {
    setSettingsState(next);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ logprobs: next.logprobs, topLogprobs: next.topLogprobs }));
    } catch {
      /* storage unavailable */
    }
  }, []);

  const schema = useMemo(() => parsedSchema(settings.schemaText), [settings.schemaText]);
  const tools = useMemo(() => parsedTools(settings.toolsText), [settings.toolsText]);

  // The checks kept with the chat that opens.
  useEffect(() => {
    setBatch(null);
    setSavedAt(null);
    if (!sessionId) return;
    const ctrl = new AbortController();
    getChecks(sessionId, ctrl.signal)
      .then((checks) => {
        if (ctrl.signal.aborted || !checks.saved_at) return;
        setSettingsState((s) => ({
          ...s,
          schemaText: checks.output_schema ? JSON.stringify(checks.output_schema, null, 2) : '',
          askSchema: !!checks.output_schema,
          toolsText: checks.tools ? JSON.stringify(checks.tools, null, 2) : '',
          sendTools: !!checks.tools,
        }));
        setBatch(checks.batch ?? null);
        setSavedAt(checks.saved_at ?? null);
      })
      .catch(() => undefined);
    return () => ctrl.abort();
  }, [sessionId]);

  /** What every request of the chat adds to its body. */
  const requestExtras = useCallback((): Record<string, unknown> => {
    const s = settingsRef.current;
    const extra: Record<string, unknown> = { seed: s.seed.trim() ? Number(s.seed) : randomSeed() };
    if (s.logprobs) {
      extra.logprobs = true;
      extra.top_logprobs = s.topLogprobs;
    }
    const sc = parsedSchema(s.schemaText).schema;
    if (s.askSchema && sc) extra.response_format = { type: 'json_schema', json_schema: { name: 'answer', schema: sc } };
    const tl = parsedTools(s.toolsText).tools;
    if (s.sendTools && tl) extra.tools = tl;
    return extra;
  }, []);

  const save = useCallback(
    async (report: BatchReport | null) => {
      if (!sessionId) return;
      const s = settingsRef.current;
      const saved = await saveChecks(sessionId, {
        output_schema: parsedSchema(s.schemaText).schema,
        tools: parsedTools(s.toolsText).tools,
        batch: report,
      });
      setSavedAt(saved.saved_at ?? new Date().toISOString());
    },
    [sessionId],
  );

  const saveWithChat = useCallback(async () => {
    setError(null);
    try {
      await save(batch);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not save the checks.');
    }
  }, [save, batch]);

  const startBatch = useCallback(
    async (input: { model: string; prompt: string; systemPrompt: string; runs: number; sampling: Record<string, unknown> }) => {
      const sc = parsedSchema(settingsRef.current.schemaText).schema;
      if (!sc) {
        setError('Give a valid JSON Schema first.');
        return;
      }
      setError(null);
      setBatchProgress(0);
      const messages = [
        ...(input.systemPrompt.trim() ? [{ role: 'system', content: input.systemPrompt }] : []),
        { role: 'user', content: input.prompt },
      ];
      const extras = requestExtras();
      delete extras.logprobs;
      delete extras.top_logprobs;
      delete extras.tools;
      try {
        const report = await runBatch({
          model: input.model,
          prompt: input.prompt,
          runs: input.runs,
          body: {
            ...input.sampling,
            ...extras,
            messages,
            response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: sc } },
          },
          schema: sc,
          onProgress: setBatchProgress,
        });
        setBatch(report);
        if (sessionId) await save(report);
      } catch (e) {
        setError(e instanceof Error ? e.message : 'The batch failed.');
      } finally {
        setBatchProgress(null);
      }
    },
    [requestExtras, save, sessionId],
  );

  // ---- presets ----------------------------------------------------------------------------------
  const reloadPresets = useCallback(async () => {
    try {
      setPresets(await listPresets());
    } catch (e) {
      setError(e instanceof Error ? `Could not load presets: ${e.message}` : 'Could not load presets.');
    }
  }, []);

  useEffect(() => {
    void reloadPresets();
  }, [reloadPresets]);

  const savePreset = useCallback(
    async (name: string, shared: boolean, chat: Omit<PresetBody, 'logprobs' | 'top_logprobs' | 'seed' | 'output_schema' | 'tools'>) => {
      const s = settingsRef.current;
      setError(null);
      try {
        await createPreset(name, shared, {
          ...chat,
          seed: s.seed.trim() ? Number(s.seed) : null,
          logprobs: s.logprobs,
          top_logprobs: s.topLogprobs,
          output_schema: parsedSchema(s.schemaText).schema,
          tools: parsedTools(s.toolsText).tools as PresetBody['tools'],
        });
        await reloadPresets();
      } catch (e) {
        setError(e instanceof Error ? `Could not save the preset: ${e.message}` : 'Could not save the preset.');
      }
    },
    [reloadPresets],
  );

  const removePreset = useCallback(
    async (id: string) => {
      try {
        await deletePreset(id);
        await reloadPresets();
      } catch (e) {
        setError(e instanceof Error ? e.message : 'Could not delete the preset.');
      }
    },
    [reloadPresets],
  );

  /** The inspector's part of a preset (the chat settings part is applied by the page). */
  const applyPreset = useCallback(
    (p: PresetBody) => {
      setSettings({
        ...settingsRef.current,
        seed: p.seed != null ? String(p.seed) : '',
        logprobs: p.logprobs ?? true,
        topLogprobs: p.top_logprobs ?? 5,
        schemaText: p.output_schema ? JSON.stringify(p.output_schema, null, 2) : '',
        askSchema: !!p.output_schema,
        toolsText: p.tools ? JSON.stringify(p.tools, null, 2) : '',
        sendTools: !!p.tools,
      });
    },
    [setSettings],
  );

  return {
    settings,
    setSettings,
    schema: schema.schema,
    schemaProblem: schema.problem,
    tools: tools.tools,
    toolsProblem: tools.problem,
    requestExtras,
    batch,
    batchProgress,
    startBatch,
    saveWithChat,
    savedAt,
    error,
    presets,
    savePreset,
    removePreset,
    applyPreset,
  };
}

export type Inspector = ReturnType<typeof useInspector>;
