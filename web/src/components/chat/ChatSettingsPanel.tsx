import type { ChatSettings } from '../../hooks/chatState';
import type { ModelConstraints } from '../../lib/types';

interface Props {
  settings: ChatSettings;
  onChange: (s: ChatSettings) => void;
  onReset: () => void;
  constraints: ModelConstraints | null;
  /** The chat has started: the system prompt is fixed. */
  locked: boolean;
  contextLimit: number | null;
}

function numberOr(value: string, fallback: number): number {
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : fallback;
}

export function ChatSettingsPanel({ settings, onChange, onReset, constraints, locked, contextLimit }: Props) {
  const supportsSystem = constraints ? constraints.supports_system_prompt !== false : true;
  return (
    <details className="chat-settings">
      <summary>Chat settings</summary>
      <div className="chat-settings-body">
        {supportsSystem && (
          <div className="field field-wide">
            <label htmlFor="system-prompt">System prompt</label>
            <textarea
              id="system-prompt"
              rows={3}
              value={settings.systemPrompt}
              disabled={locked}
              placeholder="You are a helpful assistant."
              onChange={(e) => onChange({ ...settings, systemPrompt: e.target.value })}
            />
            {locked && <span className="hint">The system prompt is fixed once a chat has started.</span>}
          </div>
        )}
        <div className="field">
          <label htmlFor="temperature">Temperature</label>
          <input
            id="temperature"
            type="number"
            min={0}
            max={2}
            step={0.1}
            value={settings.temperature}
            onChange={(e) => onChange({ ...settings, temperature: numberOr(e.target.value, settings.temperature) })}
          />
        </div>
        <div className="field">
          <label htmlFor="top-p">Top P</label>
          <input
            id="top-p"
            type="number"
            min={0}
            max={1}
            step={0.05}
            value={settings.topP}
            onChange={(e) => onChange({ ...settings, topP: numberOr(e.target.value, settings.topP) })}
          />
        </div>
        <div className="field">
          <label htmlFor="max-tokens">Max tokens</label>
          <input
            id="max-tokens"
            type="number"
            min={1}
            max={contextLimit ?? undefined}
            step={1}
            value={settings.maxTokens}
            onChange={(e) =>
              onChange({ ...settings, maxTokens: Math.max(1, Math.round(numberOr(e.target.value, settings.maxTokens))) })
            }
          />
        </div>
        <div className="field field-actions">
          <button type="button" className="btn btn-small" onClick={onReset}>
            Reset to model defaults
          </button>
        </div>
      </div>
    </details>
  );
}

export default ChatSettingsPanel;
