import { useState } from 'react';
import type { ChatSettings } from '../../hooks/chatState';
import type { Inspector } from '../../hooks/useInspector';
import { formatMs } from '../../lib/format';
import type { PresetBody } from '../../lib/inspect/types';
import { PresetsSection } from './PresetsSection';
import { PromptTokens } from './PromptTokens';

interface Props {
  inspector: Inspector;
  model: string;
  sessionId: string | null;
  chatSettings: ChatSettings;
  /** The prompt a batch sends: the draft, else the chat's last user message. */
  batchPrompt: string;
  promptTokens: number | null;
  promptExact: boolean;
  /** The prompt as it would be sent now (for its tokens on demand). */
  promptMessages: () => { role: string; content: string }[];
  onApplyPreset: (p: PresetBody) => void;
}

const EXAMPLE_SCHEMA = `{
  "type": "object",
  "properties": {"city": {"type": "string"}, "temperature": {"type": "number"}},
  "required": ["city", "temperature"]
}`;

const EXAMPLE_TOOLS = `[{"type": "function", "function": {"name": "get_weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]`;

/** The inspector's settings: what requests ask for, the schema and batch, tools, presets. */
export function InspectorPanel(props: Props) {
  const { inspector, model, sessionId, chatSettings, batchPrompt, promptTokens, promptExact, onApplyPreset } = props;
  const { promptMessages } = props;
  const { settings: s, setSettings, batch, batchProgress } = inspector;
  const [runs, setRuns] = useState(20);
  const rate = batch ? batch.valid / batch.runs : null;
  return (
    <details className="chat-settings inspector-panel" data-testid="inspector-panel">
      <summary>Inspector</summary>
      <div className="inspector-body">
        <fieldset>
          <legend>Every request</legend>
          <label className="check">
            <input
              type="checkbox"
              data-testid="logprobs-toggle"
              checked={s.logprobs}
              onChange={(e) => setSettings({ ...s, logprobs: e.target.checked })}
            />{' '}
            Ask for token probabilities (logprobs)
          </label>
          <label>
            Alternatives per token (top_logprobs){' '}
            <input
              type="number"
              min={0}
              max={20}
              value={s.topLogprobs}
              disabled={!s.logprobs}
              onChange={(e) => setSettings({ ...s, topLogprobs: Math.max(0, Math.min(20, Number(e.target.value) || 0)) })}
            />
          </label>
          <label>
            Seed{' '}
            <input
              type="number"
              data-testid="seed-input"
              placeholder="random"
              value={s.seed}
              onChange={(e) => setSettings({ ...s, seed: e.target.value })}
            />
          </label>
          <p className="hint">
            Prompt: {promptTokens ?? '–'} tokens{promptExact ? '' : ' (estimated)'}. Each answer keeps the exact
            parameters it was produced with (see “Raw exchange” under it).
          </p>
          <PromptTokens model={model} messages={promptMessages} />
        </fieldset>

        <fieldset>
          <legend>Structured output</legend>
          <label htmlFor="schema-input">JSON Schema the answers must follow</label>
          <textarea
            id="schema-input"
            data-testid="schema-input"
            rows={5}
            placeholder={EXAMPLE_SCHEMA}
            value={s.schemaText}
            onChange={(e) => setSettings({ ...s, schemaText: e.target.value })}
          />
          {inspector.schemaProblem && <p className="form-error">{inspector.schemaProblem}</p>}
          <label className="check">
            <input
              type="checkbox"
              data-testid="ask-schema"
              checked={s.askSchema}
              onChange={(e) => setSettings({ ...s, askSchema: e.target.checked })}
            />{' '}
            Ask for it (response_format: json_schema)
          </label>
          <div className="batch-row">
            <label>
              Batch: send the prompt{' '}
              <input
                type="number"
                min={1}
                max={200}
                data-testid="batch-runs"
                value={runs}
                onChange={(e) => setRuns(Math.max(1, Math.min(200, Number(e.target.value) || 1)))}
              />{' '}
              times
            </label>
            <button
              type="button"
              className="btn btn-small"
              data-testid="run-batch"
              disabled={!model || !inspector.schema || !batchPrompt.trim() || batchProgress !== null}
              title={batchPrompt.trim() ? `Prompt: ${batchPrompt}` : 'Type a prompt (or send one) first'}
              onClick={() =>
                void inspector.startBatch({
                  model,
                  prompt: batchPrompt,
                  systemPrompt: chatSettings.systemPrompt,
                  runs,
                  sampling: { temperature: chatSettings.temperature, top_p: chatSettings.topP, max_tokens: chatSettings.maxTokens },
                })
              }
            >
              {batchProgress !== null ? `Running… ${batchProgress}/${runs}` : 'Run batch'}
            </button>
          </div>
          {batch && rate !== null && (
            <div className="batch-report" data-testid="batch-report">
              <strong data-testid="batch-rate">
                {batch.valid}/{batch.runs} valid ({Math.round(rate * 100)}%)
              </strong>
              {' · '}latency p50 {formatMs(batch.latency_ms_p50 ?? null)} · p95 {formatMs(batch.latency_ms_p95 ?? null)} · max{' '}
              {formatMs(batch.latency_ms_max ?? null)}
              {batch.errors ? ` · ${batch.errors} failed requests` : ''} · {batch.model}
              {(batch.failures?.length ?? 0) > 0 && (
                <ul>
                  {(batch.failures ?? []).slice(0, 5).map((f) => (
                    <li key={f.run}>
                      run {f.run + 1}: <code>{f.path}</code> {f.message}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
        </fieldset>

        <fieldset>
          <legend>Tools</legend>
          <label htmlFor="tools-input">Tools (OpenAI “tools” JSON)</label>
          <textarea
            id="tools-input"
            data-testid="tools-input"
            rows={4}
            placeholder={EXAMPLE_TOOLS}
            value={s.toolsText}
            onChange={(e) => setSettings({ ...s, toolsText: e.target.value })}
          />
          {inspector.toolsProblem && <p className="form-error">{inspector.toolsProblem}</p>}
          <label className="check">
            <input
              type="checkbox"
              data-testid="send-tools"
              checked={s.sendTools}
              onChange={(e) => setSettings({ ...s, sendTools: e.target.checked })}
            />{' '}
            Send the tools with every request
          </label>
        </fieldset>

        {sessionId && (
          <div className="field-actions">
            <button type="button" className="btn btn-small" data-testid="save-checks" onClick={() => void inspector.saveWithChat()}>
              Save schema and tools with this chat
            </button>
            {inspector.savedAt && <span className="muted"> Saved {new Date(inspector.savedAt).toLocaleTimeString()}</span>}
          </div>
        )}

        <PresetsSection inspector={inspector} chatSettings={chatSettings} onApply={onApplyPreset} />
        {inspector.error && (
          <p className="form-error" role="alert">
            {inspector.error}
          </p>
        )}
      </div>
    </details>
  );
}

export default InspectorPanel;
