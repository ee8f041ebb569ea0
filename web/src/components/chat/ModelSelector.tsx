import { Link } from 'react-router-dom';
import type { RunningModel } from '../../lib/types';

interface Props {
  models: RunningModel[];
  loaded: boolean;
  error: string | null;
  value: string;
  onChange: (name: string) => void;
  locked: boolean;
}

export function ModelSelector({ models, loaded, error, value, onChange, locked }: Props) {
  const running = models.some((m) => m.served_model_name === value);
  const showSelect = models.length > 0 || !!value;
  return (
    <div className="model-selector">
      <label htmlFor="model-select" className="model-label">
        Model
      </label>
      {showSelect && (
        <select
          id="model-select"
          data-testid="model-select"
          value={value}
          disabled={locked}
          onChange={(e) => onChange(e.target.value)}
          aria-describedby={locked ? 'model-lock-banner' : undefined}
        >
          {!value && <option value="">Select Model</option>}
          {models.map((m) => (
            <option key={m.served_model_name} value={m.served_model_name}>
              {m.served_model_name}
              {m.engine_type ? ` (${m.engine_type})` : ''}
            </option>
          ))}
          {value && !running && <option value={value}>{value} (not running)</option>}
        </select>
      )}
      {loaded && models.length === 0 && !error && (
        <p className="no-models" data-testid="no-models">
          No models running. Start one from the <Link to="/models">Models page</Link>.
        </p>
      )}
      {error && (
        <p className="inline-error" role="alert">
          Could not load running models: {error}
        </p>
      )}
      {value && !running && loaded && models.length > 0 && (
        <span className="hint">“{value}” is not running right now.</span>
      )}
    </div>
  );
}

export default ModelSelector;
