import { useState } from 'react';
import { percent, probability, probabilityColour } from '../../lib/inspect/stats';
import type { InspectRecord } from '../../lib/inspect/types';

/** The answer's tokens coloured by probability; hovering (or focusing) one lists its top alternatives. */
export function TokenView({ record, model }: { record: InspectRecord | null; model: string }) {
  const [active, setActive] = useState<number | null>(null);
  const lp = record?.logprobs;
  if (!lp || !lp.requested) {
    return (
      <p className="muted inspect-note" data-testid="tokens-unavailable">
        Token probabilities were not requested for this answer. Turn on “logprobs” in the Inspector and send again.
      </p>
    );
  }
  if (!lp.returned || !lp.content.length) {
    return (
      <p className="inspect-note banner-warn" data-testid="tokens-unavailable">
        {model} did not return token probabilities (logprobs) for this answer: this model server does not support
        them, or not for this request.
      </p>
    );
  }
  const shown = active === null ? null : lp.content[active];
  return (
    <div className="token-view" data-testid="token-view">
      <div className="token-legend muted">
        {lp.content.length} tokens · colour: probability of the chosen token (red unsure, green sure) · hover a
        token for its alternatives
        {record?.truncated.some((t) => t.startsWith('logprobs')) && ' · list cut to fit the stored size'}
      </div>
      <div className="token-text" onMouseLeave={() => setActive(null)}>
        {lp.content.map((t, i) => {
          const p = probability(t.logprob);
          return (
            <span
              key={i}
              className={`token${active === i ? ' token-active' : ''}`}
              data-testid="token"
              tabIndex={0}
              style={{ background: probabilityColour(p) }}
              title={`${percent(p)}`}
              onMouseEnter={() => setActive(i)}
              onFocus={() => setActive(i)}
            >
              {t.token}
            </span>
          );
        })}
      </div>
      {shown && (
        <div className="token-alternatives" role="tooltip" data-testid="token-alternatives">
          <strong>{JSON.stringify(shown.token)}</strong> {percent(probability(shown.logprob))}
          {shown.top_logprobs && shown.top_logprobs.length > 0 ? (
            <ol>
              {shown.top_logprobs.map((alt, j) => (
                <li key={j} data-testid="token-alternative">
                  <code>{JSON.stringify(alt.token)}</code> <span>{percent(probability(alt.logprob))}</span>
                </li>
              ))}
            </ol>
          ) : (
            <span className="muted"> (no alternatives: top_logprobs was 0)</span>
          )}
        </div>
      )}
    </div>
  );
}

export default TokenView;
