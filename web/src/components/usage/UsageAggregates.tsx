// The usage page's aggregates: requests, tokens, TTFT and latency grouped by model, user, org,
// hour or day.

import { useEffect, useState } from 'react';
import * as adminApi from '../../lib/admin-api';
import type { UsageFilters } from '../../lib/admin-api';
import { formatDateTime, formatInt, formatMs, formatPercent } from '../../lib/format';
import type { UsageGroup } from '../../lib/types';
import { InlineError } from '../InlineError';

const GROUP_BY = ['model', 'user', 'org', 'hour', 'day'] as const;
type GroupBy = (typeof GROUP_BY)[number];

interface Props {
  filters: UsageFilters;
  userName: Map<string, string>;
  orgName: Map<string, string>;
}

export function UsageAggregates({ filters, userName, orgName }: Props) {
  const [groupBy, setGroupBy] = useState<GroupBy>('model');
  const [groups, setGroups] = useState<UsageGroup[]>([]);
  const [groupsError, setGroupsError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    adminApi
      .groupUsage(filters, groupBy)
      .then((g) => {
        if (cancelled) return;
        setGroups(g);
        setGroupsError(null);
      })
      .catch((e) => !cancelled && setGroupsError(e instanceof Error ? e.message : 'Could not load aggregates.'));
    return () => {
      cancelled = true;
    };
  }, [filters, groupBy]);

  const groupLabel = (key: string | null, label?: string | null): string => {
    if (key === null || key === undefined || key === '') return '(none)';
    if ((groupBy === 'user' || groupBy === 'org') && label) return label;
    if (groupBy === 'user') return userName.get(String(key)) ?? String(key);
    if (groupBy === 'org') return orgName.get(String(key)) ?? String(key);
    if (groupBy === 'hour' || groupBy === 'day') {
      const t = Date.parse(String(key));
      if (!Number.isNaN(t))
        return groupBy === 'day'
          ? new Date(t).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' })
          : formatDateTime(String(key));
    }
    return String(key);
  };

  return (
    <section className="card">
      <div className="card-head">
        <h2>Aggregates</h2>
        <div className="field field-inline">
          <label htmlFor="group-by">Group by</label>
          <select id="group-by" value={groupBy} onChange={(e) => setGroupBy(e.target.value as GroupBy)}>
            {GROUP_BY.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </div>
      </div>
      <InlineError message={groupsError} />
      <div className="table-wrap">
        <table className="table table-nowrap" data-testid="usage-groups">
          <thead>
            <tr>
              <th scope="col">{groupBy}</th>
              <th scope="col" className="num">Requests</th>
              <th scope="col" className="num">Prompt tokens</th>
              <th scope="col" className="num">Completion tokens</th>
              <th scope="col" className="num">Total tokens</th>
              <th scope="col" className="num">TTFT p50</th>
              <th scope="col" className="num">TTFT p95</th>
              <th scope="col" className="num">Latency p50</th>
              <th scope="col" className="num">Latency p95</th>
              <th scope="col" className="num">Error rate</th>
            </tr>
          </thead>
          <tbody>
            {groups.length === 0 && (
              <tr>
                <td colSpan={10} className="muted">
                  No usage in this range.
                </td>
              </tr>
            )}
            {groups.map((g, i) => (
              <tr key={`${g.key}-${i}`}>
                <td className="mono">{groupLabel(g.key, g.label)}</td>
                <td className="num">{formatInt(g.requests ?? 0)}</td>
                <td className="num">{formatInt(g.prompt_tokens ?? 0)}</td>
                <td className="num">{formatInt(g.completion_tokens ?? 0)}</td>
                <td className="num">{formatInt(g.total_tokens ?? 0)}</td>
                <td className="num">{formatMs(g.ttft_p50_ms)}</td>
                <td className="num">{formatMs(g.ttft_p95_ms)}</td>
                <td className="num">{formatMs(g.latency_p50_ms)}</td>
                <td className="num">{formatMs(g.latency_p95_ms)}</td>
                <td className="num">{formatPercent(g.error_rate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
