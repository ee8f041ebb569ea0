// The per-level table: the columns vLLM `bench serve` prints, each header explaining its formula.

import { DEFINITIONS } from '../../lib/bench';
import type { RunView } from '../../lib/bench-api';
import { formatNumber, formatPercent } from '../../lib/format';

function Header({ label, term }: { label: string; term: string }) {
  return (
    <th scope="col">
      <abbr className="formula" title={DEFINITIONS[term]}>
        {label}
      </abbr>
    </th>
  );
}

const ms = (v: number | null | undefined) => formatNumber(v, 1);

export function RunResults({ run }: { run: RunView }) {
  if (!run.levels.length) return <p className="muted">No level measured yet.</p>;
  const slo = run.levels.some((l) => l.stats.request_goodput != null);
  return (
    <div className="table-wrap">
      <table className="table bench-table" aria-label="Results per level">
        <thead>
          <tr>
            <th scope="col">{run.settings.shape === 'rate' ? 'Rate (req/s)' : 'Concurrency'}</th>
            <th scope="col">Done</th>
            <th scope="col">Errors</th>
            <Header label="req/s" term="req/s" />
            <Header label="out tok/s" term="out tok/s" />
            <Header label="total tok/s" term="total tok/s" />
            {slo && <Header label="Goodput" term="goodput" />}
            <Header label="TTFT mean / p50 / p90 / p99 (ms)" term="TTFT" />
            <Header label="TPOT p50 / p99 (ms)" term="TPOT" />
            <Header label="ITL p50 / p99 (ms)" term="ITL" />
            <Header label="E2EL p50 / p99 (ms)" term="E2EL" />
          </tr>
        </thead>
        <tbody>
          {run.levels.map((l) => {
            const s = l.stats;
            return (
              <tr key={l.index} className={l.partial ? 'muted' : undefined}>
                <td>
                  {l.load}
                  {l.partial ? ' (cancelled)' : ''}
                  {l.slo_passed != null ? (l.slo_passed ? ' ✓' : ' ✗') : ''}
                </td>
                <td>{s.completed}</td>
                <td>{s.errors}</td>
                <td>{formatNumber(s.request_throughput, 2)}</td>
                <td>{formatNumber(s.output_throughput, 1)}</td>
                <td>{formatNumber(s.total_token_throughput, 1)}</td>
                {slo && (
                  <td>
                    {formatNumber(s.request_goodput, 2)} ({formatPercent(s.slo_attainment, 0)})
                  </td>
                )}
                <td>
                  {ms(s.ttft_ms.mean)} / {ms(s.ttft_ms.median)} / {ms(s.ttft_ms.p90)} / {ms(s.ttft_ms.p99)}
                </td>
                <td>
                  {ms(s.tpot_ms.median)} / {ms(s.tpot_ms.p99)}
                </td>
                <td>
                  {ms(s.itl_ms.median)} / {ms(s.itl_ms.p99)}
                </td>
                <td>
                  {ms(s.e2el_ms.median)} / {ms(s.e2el_ms.p99)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
