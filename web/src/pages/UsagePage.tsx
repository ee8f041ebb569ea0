import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { BarChart } from '../components/charts/BarChart';
import { LineChart, type LineSeries } from '../components/charts/LineChart';
import * as adminApi from '../lib/admin-api';
import type { UsageFilters } from '../lib/admin-api';
import { formatDateTime, formatInt, formatMs, formatNumber, formatPercent } from '../lib/format';
import type { Org, UsageGroup, UsageRecord, User } from '../lib/types';

const GROUP_BY = ['model', 'user', 'org', 'hour', 'day'] as const;
type GroupBy = (typeof GROUP_BY)[number];
const STATUSES = ['complete', 'stopped', 'abandoned', 'error'];
const MAX_CHART_MODELS = 6;

/** Where a completion came from (the usage records' `source`). */
const SOURCES = ['playground', 'api'];

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

function dayStartIso(d: string): string | undefined {
  if (!d) return undefined;
  const t = new Date(`${d}T00:00:00`);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}
function dayEndIso(d: string): string | undefined {
  if (!d) return undefined;
  const t = new Date(`${d}T23:59:59.999`);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

interface FormState {
  startDate: string;
  endDate: string;
  model: string;
  userId: string;
  orgId: string;
  source: string;
  status: string;
}

function recordKey(r: UsageRecord, i: number): string {
  return String(r.event_id ?? r.completion_id ?? i);
}

const EMPTY_FORM: FormState = { startDate: '', endDate: '', model: '', userId: '', orgId: '', source: '', status: '' };

function toFilters(f: FormState): UsageFilters {
  return {
    start: dayStartIso(f.startDate),
    end: dayEndIso(f.endDate),
    model: f.model.trim() || undefined,
    user_id: f.userId || undefined,
    org_id: f.orgId || undefined,
    source: f.source || undefined,
    status: f.status || undefined,
  };
}

export function UsagePage() {
  const [form, setForm] = useState<FormState>(EMPTY_FORM);
  const [filters, setFilters] = useState<UsageFilters>({});
  const [users, setUsers] = useState<User[]>([]);
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [modelNames, setModelNames] = useState<string[]>([]);

  const [records, setRecords] = useState<UsageRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [recordsLoading, setRecordsLoading] = useState(false);
  const [recordsError, setRecordsError] = useState<string | null>(null);

  const [groupBy, setGroupBy] = useState<GroupBy>('model');
  const [groups, setGroups] = useState<UsageGroup[]>([]);
  const [groupsError, setGroupsError] = useState<string | null>(null);

  const [modelGroups, setModelGroups] = useState<UsageGroup[]>([]);
  const [series, setSeries] = useState<LineSeries[]>([]);
  const [chartsError, setChartsError] = useState<string | null>(null);

  useEffect(() => {
    adminApi.listUsers().then(setUsers).catch(() => setUsers([]));
    adminApi.listOrgs().then(setOrgs).catch(() => setOrgs([]));
    adminApi
      .listUpstreams()
      .then((u) => setModelNames(u.map((x) => x.served_model_name)))
      .catch(() => setModelNames([]));
  }, []);

  const userName = useMemo(() => {
    const m = new Map<string, string>();
    for (const u of users) m.set(String(u.id), u.username);
    return m;
  }, [users]);
  const orgName = useMemo(() => {
    const m = new Map<string, string>();
    for (const o of orgs) m.set(String(o.id), o.name);
    return m;
  }, [orgs]);

  // Records (first page) whenever the applied filters change.
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

  // Aggregates for the selected grouping.
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

  // Charts: per-model aggregates, then tokens per hour for the busiest models.
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const byModel = await adminApi.groupUsage(filters, 'model');
        if (cancelled) return;
        setModelGroups(byModel);
        const top = [...byModel]
          .filter((g) => g.key)
          .sort((a, b) => (b.total_tokens ?? 0) - (a.total_tokens ?? 0))
          .slice(0, MAX_CHART_MODELS);
        const hourly = await Promise.all(
          top.map((g) => adminApi.groupUsage({ ...filters, model: String(g.key) }, 'hour')),
        );
        if (cancelled) return;
        setSeries(
          top.map((g, i) => ({
            name: String(g.key),
            points: hourly[i]
              .map((h) => ({ x: Date.parse(String(h.key)), y: h.total_tokens ?? 0 }))
              .filter((p) => Number.isFinite(p.x)),
          })),
        );
        setChartsError(null);
      } catch (e) {
        if (!cancelled) setChartsError(e instanceof Error ? e.message : 'Could not load chart data.');
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [filters]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilters(toFilters(form));
  };
  const reset = () => {
    setForm(EMPTY_FORM);
    setFilters({});
  };


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

  const chartModels = modelGroups.filter((g) => g.key).slice(0, 12);

  return (
    <div className="page">
      <h1>Usage</h1>
      <form className="card filters" onSubmit={apply} aria-label="Usage filters">
        <div className="field">
          <label htmlFor="f-start">From</label>
          <input id="f-start" type="date" value={form.startDate} onChange={(e) => setForm({ ...form, startDate: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="f-end">To</label>
          <input id="f-end" type="date" value={form.endDate} onChange={(e) => setForm({ ...form, endDate: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="f-model">Model</label>
          <input id="f-model" list="f-model-list" value={form.model} onChange={(e) => setForm({ ...form, model: e.target.value })} placeholder="any" />
          <datalist id="f-model-list">
            {modelNames.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor="f-user">User</label>
          <select id="f-user" value={form.userId} onChange={(e) => setForm({ ...form, userId: e.target.value })}>
            <option value="">any</option>
            {users.map((u) => (
              <option key={String(u.id)} value={String(u.id)}>
                {u.username}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-org">Organisation</label>
          <select id="f-org" value={form.orgId} onChange={(e) => setForm({ ...form, orgId: e.target.value })}>
            <option value="">any</option>
            {orgs.map((o) => (
              <option key={String(o.id)} value={String(o.id)}>
                {o.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-source">Source</label>
          <select id="f-source" value={form.source} onChange={(e) => setForm({ ...form, source: e.target.value })}>
            <option value="">any</option>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-status">Status</label>
          <select id="f-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-actions">
          <button type="submit" className="btn btn-primary">
            Apply filters
          </button>
          <button type="button" className="btn" onClick={reset}>
            Reset
          </button>
          <a className="btn" href={adminApi.usageCsvUrl(filters)} download="usage.csv">
            Export CSV
          </a>
        </div>
      </form>

      <section className="card">
        <h2>Charts</h2>
        {chartsError && (
          <p className="inline-error" role="alert">
            {chartsError}
          </p>
        )}
        <div className="charts">
          <div>
            <h3>Tokens per hour by model</h3>
            <LineChart series={series} title="Total tokens per hour, per model" yLabel="tokens" />
          </div>
          <div>
            <h3>TTFT by model (p50 / p95)</h3>
            <BarChart
              title="Time to first token p50 and p95 per model, milliseconds"
              categories={chartModels.map((g) => String(g.key))}
              series={[
                { name: 'TTFT p50', values: chartModels.map((g) => g.ttft_p50_ms) },
                { name: 'TTFT p95', values: chartModels.map((g) => g.ttft_p95_ms) },
              ]}
              unit="ms"
            />
          </div>
          <div>
            <h3>Latency by model (p50 / p95)</h3>
            <BarChart
              title="End-to-end latency p50 and p95 per model, milliseconds"
              categories={chartModels.map((g) => String(g.key))}
              series={[
                { name: 'Latency p50', values: chartModels.map((g) => g.latency_p50_ms) },
                { name: 'Latency p95', values: chartModels.map((g) => g.latency_p95_ms) },
              ]}
              unit="ms"
            />
          </div>
        </div>
      </section>

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
        {groupsError && (
          <p className="inline-error" role="alert">
            {groupsError}
          </p>
        )}
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

      <section className="card">
        <h2>Records</h2>
        {recordsError && (
          <p className="inline-error" role="alert">
            {recordsError}
          </p>
        )}
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
    </div>
  );
}

export default UsagePage;
