import '../components/compare/compare.css';
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { InlineError } from '../components/InlineError';
import { useAuth } from '../lib/auth';
import { getLeaderboard, type Leaderboard } from '../lib/compare-api';
import { formatInt, formatNumber } from '../lib/format';

/** Bradley-Terry ratings of the models from the user's votes (or everyone's, for an admin). */
export function LeaderboardPage() {
  const { isAdmin } = useAuth();
  const [scope, setScope] = useState<'user' | 'all'>('user');
  const [blindOnly, setBlindOnly] = useState(false);
  const [board, setBoard] = useState<Leaderboard | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ctrl = new AbortController();
    setError(null);
    getLeaderboard(scope, blindOnly, ctrl.signal).then(
      (b) => setBoard(b),
      (e: unknown) => {
        if (!ctrl.signal.aborted) setError(e instanceof Error ? e.message : 'Could not load the leaderboard.');
      },
    );
    return () => ctrl.abort();
  }, [scope, blindOnly]);

  return (
    <div className="page leaderboard-page" data-testid="leaderboard-page">
      <h1>Leaderboard</h1>
      <p className="muted">
        Bradley-Terry ratings from your votes in <Link to="/compare">Compare</Link>, computed as LMSYS's Chatbot Arena
        does: a maximum-likelihood fit on the Elo scale (mean 1000; 400 points = 10:1 odds), with 95 % intervals from{' '}
        {board ? board.bootstrap_rounds : 100} bootstrap resamples of the battles. A vote for one answer beats each
        other pane's; a tie or "all bad" is a tie for every pair.
      </p>
      <div className="compare-toggles">
        {isAdmin && (
          <label>
            <input
              type="checkbox"
              data-testid="all-users"
              checked={scope === 'all'}
              onChange={(e) => setScope(e.target.checked ? 'all' : 'user')}
            />{' '}
            All users
          </label>
        )}
        <label>
          <input type="checkbox" checked={blindOnly} onChange={(e) => setBlindOnly(e.target.checked)} /> Blind votes
          only
        </label>
      </div>
      <InlineError message={error} />
      {board && board.entries.length === 0 && <p className="muted">No votes yet: compare models and vote for the better answer.</p>}
      {board && board.entries.length > 0 && (
        <>
          <p className="muted small" data-testid="leaderboard-summary">
            {formatInt(board.votes)} votes · {formatInt(board.battles)} battles
          </p>
          <table className="table" data-testid="leaderboard-table">
            <thead>
              <tr>
                <th>Rank</th>
                <th>Model</th>
                <th title="Bradley-Terry rating, Elo scale">Score</th>
                <th title="95 % bootstrap interval">95 % CI</th>
                <th>Battles</th>
                <th>Wins</th>
                <th>Ties</th>
                <th>Losses</th>
              </tr>
            </thead>
            <tbody>
              {board.entries.map((e, i) => (
                <tr key={e.model} data-testid="leaderboard-row">
                  <td>{i + 1}</td>
                  <td>{e.model}</td>
                  <td>{formatNumber(e.score, 0)}</td>
                  <td>
                    {formatNumber(e.ci_low, 0)} – {formatNumber(e.ci_high, 0)}
                  </td>
                  <td>{formatInt(e.battles)}</td>
                  <td>{formatInt(e.wins)}</td>
                  <td>{formatInt(e.ties)}</td>
                  <td>{formatInt(e.losses)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Head to head</h2>
          <table className="table" data-testid="pairs-table">
            <thead>
              <tr>
                <th>Model A</th>
                <th>Model B</th>
                <th>A wins</th>
                <th>Ties</th>
                <th>B wins</th>
              </tr>
            </thead>
            <tbody>
              {board.pairs.map((p) => (
                <tr key={`${p.model_a}|${p.model_b}`} data-testid="pair-row">
                  <td>{p.model_a}</td>
                  <td>{p.model_b}</td>
                  <td>{formatInt(p.a_wins)}</td>
                  <td>{formatInt(p.ties)}</td>
                  <td>{formatInt(p.b_wins)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

export default LeaderboardPage;
