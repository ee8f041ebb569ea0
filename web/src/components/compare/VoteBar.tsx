import type { Comparison, VoteChoice } from '../../lib/compare-api';

interface Props {
  comparison: Comparison;
  disabled: boolean;
  onVote: (turn: number, choice: VoteChoice, pane: number | null) => void;
}

/** The verdict on the latest turn: a preferred pane, a tie, or all bad (arena style). */
export function VoteBar({ comparison, disabled, onVote }: Props) {
  const turn = comparison.turns[comparison.turns.length - 1];
  if (!turn) return null;
  const vote = turn.vote;
  const chosen =
    vote?.choice === 'pane' && vote.pane != null
      ? `You preferred ${comparison.panes[vote.pane]?.label}${
          comparison.panes[vote.pane]?.model_name ? ` (${comparison.panes[vote.pane].model_name})` : ''
        }.`
      : vote?.choice === 'tie'
        ? 'You called it a tie.'
        : vote?.choice === 'bad'
          ? 'You marked every answer as bad.'
          : null;
  return (
    <div className="vote-bar" data-testid="vote-bar" role="group" aria-label={`Vote on turn ${turn.turn}`}>
      <span className="vote-question">Which answer to turn {turn.turn} is better?</span>
      {comparison.panes.map((pane) => (
        <button
          key={pane.index}
          type="button"
          className={`btn btn-small${vote?.choice === 'pane' && vote.pane === pane.index ? ' btn-primary' : ''}`}
          disabled={disabled}
          onClick={() => onVote(turn.turn, 'pane', pane.index)}
        >
          {pane.label} is better
        </button>
      ))}
      <button
        type="button"
        className={`btn btn-small${vote?.choice === 'tie' ? ' btn-primary' : ''}`}
        disabled={disabled}
        onClick={() => onVote(turn.turn, 'tie', null)}
      >
        Tie
      </button>
      <button
        type="button"
        className={`btn btn-small${vote?.choice === 'bad' ? ' btn-primary' : ''}`}
        disabled={disabled}
        onClick={() => onVote(turn.turn, 'bad', null)}
      >
        All bad
      </button>
      {chosen && (
        <span className="vote-result" data-testid="vote-result">
          {chosen}
        </span>
      )}
    </div>
  );
}
