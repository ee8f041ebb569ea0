import { Link } from 'react-router-dom';
import type { RunSummary } from '../../lib/bench-api';
import { formatDateTime } from '../../lib/format';

export function RunsTable({ runs }: { runs: RunSummary[] }) {
  if (!runs.length) return <p className="muted">No runs yet.</p>;
  return (
    <div className="table-wrap">
      <table className="table" aria-label="Benchmark runs">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Model</th>
            <th scope="col">Load</th>
            <th scope="col">Status</th>
            <th scope="col">SLOs</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.id}>
              <td className="nowrap">
                <Link to={`/bench/runs/${r.id}`}>{formatDateTime(r.created_at)}</Link>
              </td>
              <td className="mono nowrap">{r.model}</td>
              <td className="nowrap">
                {r.shape} {r.levels.join(', ')}
              </td>
              <td>
                <span className={`badge run-${r.status}`}>{r.status}</span>
              </td>
              <td>
                {r.slo_met == null ? '—' : r.slo_met ? 'met' : 'missed'}
                {r.best_load != null ? ` (best ${r.best_load})` : ''}
              </td>
              <td>{r.source}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
