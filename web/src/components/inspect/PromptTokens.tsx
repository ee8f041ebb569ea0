import { useState } from 'react';
import { promptTokens } from '../../lib/inspect/api';

interface Props {
  model: string;
  /** The prompt as it would be sent now: the chat so far and the draft. */
  messages: () => { role: string; content: string }[];
}

/** The prompt's tokens, on demand, from the model server's own tokenizer (chat template included). */
export function PromptTokens({ model, messages }: Props) {
  const [state, setState] = useState<{ count: number; exact: boolean; tokens: string[] | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const show = async () => {
    setError(null);
    try {
      setState(await promptTokens(model, messages()));
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not tokenize the prompt.');
    }
  };
  return (
    <div className="prompt-tokens">
      <button type="button" className="btn btn-small" data-testid="show-prompt-tokens" disabled={!model} onClick={() => void show()}>
        Show prompt tokens
      </button>
      {error && <p className="form-error">{error}</p>}
      {state && (
        <div data-testid="prompt-tokens">
          <p className="hint">
            {state.count} tokens{state.exact ? ' (the model server’s tokenizer)' : ' (estimated: this model server has no tokenizer endpoint)'}
          </p>
          {state.tokens ? (
            <div className="token-text">
              {state.tokens.map((t, i) => (
                <span key={i} className="token prompt-token" data-testid="prompt-token">
                  {t}
                </span>
              ))}
            </div>
          ) : (
            <p className="muted">{model} does not give its tokens as text; only the count is known.</p>
          )}
        </div>
      )}
    </div>
  );
}

export default PromptTokens;
