import { useState } from 'react';
import type { ChatSettings } from '../../hooks/chatState';
import type { Inspector } from '../../hooks/useInspector';
import type { PresetBody } from '../../lib/inspect/types';

interface Props {
  inspector: Inspector;
  chatSettings: ChatSettings;
  onApply: (p: PresetBody) => void;
}

/** Saved presets (the user's own and the org's shared ones): apply, save the current set, delete. */
export function PresetsSection({ inspector, chatSettings, onApply }: Props) {
  const [selected, setSelected] = useState('');
  const [name, setName] = useState('');
  const [shared, setShared] = useState(false);
  const chosen = inspector.presets.find((p) => p.id === selected) ?? null;
  return (
    <fieldset>
      <legend>Presets</legend>
      <div className="preset-row">
        <select
          aria-label="Preset"
          data-testid="preset-select"
          value={selected}
          onChange={(e) => setSelected(e.target.value)}
        >
          <option value="">Choose a preset…</option>
          {inspector.presets.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
              {p.mine ? (p.shared ? ' (mine, shared)' : '') : ' (shared in your org)'}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="btn btn-small"
          data-testid="apply-preset"
          disabled={!chosen}
          onClick={() => {
            if (!chosen) return;
            inspector.applyPreset(chosen.preset);
            onApply(chosen.preset);
          }}
        >
          Apply
        </button>
        {chosen?.mine && (
          <button type="button" className="btn btn-small" onClick={() => void inspector.removePreset(chosen.id).then(() => setSelected(''))}>
            Delete
          </button>
        )}
      </div>
      <form
        className="preset-row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name.trim()) return;
          void inspector
            .savePreset(name.trim(), shared, {
              system_prompt: chatSettings.systemPrompt,
              temperature: chatSettings.temperature,
              top_p: chatSettings.topP,
              max_tokens: chatSettings.maxTokens,
            })
            .then(() => setName(''));
        }}
      >
        <input
          aria-label="Preset name"
          data-testid="preset-name"
          placeholder="Name for the current settings"
          value={name}
          maxLength={100}
          onChange={(e) => setName(e.target.value)}
        />
        <label className="check">
          <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} /> share with my org
        </label>
        <button type="submit" className="btn btn-small" data-testid="save-preset" disabled={!name.trim()}>
          Save as preset
        </button>
      </form>
      <p className="hint">A preset holds the system prompt, sampling, seed, logprobs, schema and tools.</p>
    </fieldset>
  );
}

export default PresetsSection;
