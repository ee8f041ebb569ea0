// The usage page's records: one row per completion, newest first, a page at a time.

import { useCallback, useEffect, useState } from 'react';
import * as adminApi from '../../lib/admin-api';
import type { UsageFilters } from '../../lib/admin-api';
import { formatDateTime, formatInt, formatMs, formatNumber, formatPercent } from '../../lib/format';
import type { UsageRecord } from '../../lib/types';
import { InlineError } from '../InlineError';

/** Columns of the records table, in order (ids stay in the CSV export). */
const RECORD_COLUMNS: { key: keyof UsageRecord; label: string }[] = [
  { key: 'occurred_at', label: 'Time' },
  { key: 'username', label: 'User' },
  { key: 'org_name', label: 'Org' },
  { key: 'model', label: 'Model' },
  { key: 'source', label: 'Source' },
  { key: 'status', label: 'Status' },
  { key: 'prompt_tokens', label: 'Prompt tokens' },
  { key: 'completion_tokens', label: 'Completion tokens' },
  { key: 'total_tokens', label: 'Total tokens' },
  { key: 'ttft_ms', label: 'TTFT' },
  { key: 'decode_tokens_per_s', label: 'Decode tok/s' },
  { key: 'latency_ms', label: 'Latency' },
  { key: 'error', label: 'Error' },
];

function formatCell(key: string, v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'number') {
    if (key.endsWith('_ms')) return formatMs(v);
    if (key.endsWith('_rate')) return formatPercent(v);
    return Number.isInteger(v) ? formatInt(v) : formatNumber(v, 1);
  }
  if (typeof v === 'string') {
    if ((key.endsWith('_at') || key === 'timestamp' || key === 'ts' || key === 'time') && !Number.isNaN(Date.parse(v)))
      return formatDateTime(v);
    return v;
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}

function recordKey(r: UsageRecord, i: number): string {
  return String(r.event_id ?? r.completion_id ?? i);
}

export function UsageRecords({ filters, userName }: { filters: UsageFilters; userName: Map<string, string> }) {
  const [records, setRecords] = useState<UsageRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [recordsLoading, setRecordsLoading] = useState(false);
  const [recordsError, setRecordsError] = useState<string | null>(null);

  // The first page whenever the applied filters change.
  useEffect(() => {
    let cancelled = false;
    setRecordsLoading(true);
    adminApi
      .listUsage(filters, null)
      .then((page) => {
        if (cancelled) return;
        setRecords(page.records);
        setCursor(page.next_cursor);
        setRecordsError(null);
      })
      .catch((e) => !cancelled && setRecordsError(e instanceof Error ? e.message : 'Could not load usage.'))
      .finally(() => !cancelled && setRecordsLoading(false));
    return () => {
      cancelled = true;
    };
  }, [filters]);

  const loadMore = useCallback(async () => {
    if (!cursor) return;
    setRecordsLoading(true);
    try {
      const page = await adminApi.listUsage(filters, cursor);
      setRecords((prev) => [...prev, ...page.records]);
      setCursor(page.next_cursor);
    } catch (e) {
      setRecordsError(e instanceof Error ? e.message : 'Could not load more records.');
    } finally {
      setRecordsLoading(false);
    }
  }, [cursor, filters]);

  return (
    <section className="card">
      <h2>Records</h2>
      <InlineError message={recordsError} />
      <div className="table-wrap">
        <table className="table table-nowrap" data-testid="usage-records">
          <thead>
            <tr>
              {RECORD_COLUMNS.map((c) => (
                <th scope="col" key={c.key} className={c.key.endsWith('_ms') || c.key.includes('tokens') ? 'num' : undefined}>
                  {c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {records.length === 0 && !recordsLoading && (
              <tr>
                <td colSpan={RECORD_COLUMNS.length} className="muted">
                  No records.
                </td>
              </tr>
            )}
            {records.map((r, i) => (
              <tr key={recordKey(r, i)}>
                {RECORD_COLUMNS.map(({ key }) => (
                  <td key={key} className={typeof r[key] === 'number' ? 'num' : undefined}>
                    {key === 'username' && !r.username ? (userName.get(String(r.user_id)) ?? formatCell(key, r.user_id)) : formatCell(key, r[key])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="load-more">
        {recordsLoading && <span className="muted">Loading…</span>}
        {cursor && !recordsLoading && (
          <button type="button" className="btn" onClick={() => void loadMore()}>
            Load more
          </button>
        )}
        <span className="muted small">{formatInt(records.length)} records shown</span>
      </div>
    </section>
  );
}
