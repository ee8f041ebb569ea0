import type { Sampling } from '../../lib/compare-api';
import type { RunningModel } from '../../lib/types';

interface Props {
  index: number;
  label: string;
  /** null: the model is chosen (setup); a string: locked to it, or hidden (blind). */
  model: string;
  models: RunningModel[] | null;
  sampling: Sampling;
  onModel?: (name: string) => void;
  onSampling: (s: Sampling) => void;
  onRemove?: () => void;
  disabled: boolean;
  /** The sampling follows pane A's ("same settings for every pane"). */
  samplingLocked?: boolean;
}

function numberOrNull(value: string): number | null {
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : null;
}

/** A pane's model (chosen while the comparison is new, then locked) and sampling settings. */
export function PaneSettings(props: Props) {
  const { index, label, model, models, sampling, onModel, onSampling, onRemove, disabled } = props;
  const fixed = disabled || !!props.samplingLocked;
  const id = (name: string) => `pane-${index}-${name}`;
  return (
    <fieldset className="pane-settings" data-testid="pane-settings">
      <legend>{label}</legend>
      {models && onModel ? (
        <div className="field">
          <label htmlFor={id('model')}>Model</label>
          <select
            id={id('model')}
            data-testid="pane-model-select"
            value={model}
            disabled={disabled}
            onChange={(e) => onModel(e.target.value)}
          >
            {!model && <option value="">Select Model</option>}
            {models.map((m) => (
              <option key={m.served_model_name} value={m.served_model_name}>
                {m.served_model_name}
                {m.engine_type ? ` (${m.engine_type})` : ''}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <div className="field">
        <label htmlFor={id('temperature')}>Temperature</label>
        <input
          id={id('temperature')}
          type="number"
          min={0}
          max={2}
          step={0.1}
          disabled={fixed}
          value={sampling.temperature ?? ''}
          onChange={(e) => onSampling({ ...sampling, temperature: numberOrNull(e.target.value) })}
        />
      </div>
      <div className="field">
        <label htmlFor={id('top-p')}>Top P</label>
        <input
          id={id('top-p')}
          type="number"
          min={0}
          max={1}
          step={0.05}
          disabled={fixed}
          value={sampling.top_p ?? ''}
          onChange={(e) => onSampling({ ...sampling, top_p: numberOrNull(e.target.value) })}
        />
      </div>
      <div className="field">
        <label htmlFor={id('max-tokens')}>Max tokens</label>
        <input
          id={id('max-tokens')}
          type="number"
          min={1}
          step={1}
          disabled={fixed}
          value={sampling.max_tokens ?? ''}
          onChange={(e) => {
            const n = numberOrNull(e.target.value);
            onSampling({ ...sampling, max_tokens: n === null ? null : Math.max(1, Math.round(n)) });
          }}
        />
      </div>
      {onRemove && (
        <button type="button" className="btn btn-small" onClick={onRemove} disabled={disabled}>
          Remove pane
        </button>
      )}
    </fieldset>
  );
}
