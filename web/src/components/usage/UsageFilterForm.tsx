// The usage page's filter form: the fields being edited, applied as UsageFilters on submit.

import { useState, type FormEvent } from 'react';
import * as adminApi from '../../lib/admin-api';
import type { UsageFilters } from '../../lib/admin-api';
import type { Org, User } from '../../lib/types';
import { optionsOf, orgOptions, SelectField } from '../SelectField';

const STATUSES = ['complete', 'stopped', 'abandoned', 'error'];
/** Where a completion came from (the usage records' `source`). */
const SOURCES = ['playground', 'api'];

interface FormState {
  startDate: string;
  endDate: string;
  model: string;
  userId: string;
  orgId: string;
  source: string;
  status: string;
}

const EMPTY_FORM: FormState = { startDate: '', endDate: '', model: '', userId: '', orgId: '', source: '', status: '' };

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

interface Props {
  /** The filters in force (for the CSV link). */
  filters: UsageFilters;
  onApply: (filters: UsageFilters) => void;
  users: User[];
  orgs: Org[];
  modelNames: string[];
}

export function UsageFilterForm({ filters, onApply, users, orgs, modelNames }: Props) {
  const [form, setForm] = useState<FormState>(EMPTY_FORM);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    onApply(toFilters(form));
  };
  const reset = () => {
    setForm(EMPTY_FORM);
    onApply({});
  };
  const set = (field: keyof FormState) => (value: string) => setForm({ ...form, [field]: value });
  const userOptions = users.map((u) => ({ value: String(u.id), label: u.username }));

  return (
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
      <SelectField id="f-user" label="User" value={form.userId} onChange={set('userId')} options={userOptions} empty="any" />
      <SelectField id="f-org" label="Organisation" value={form.orgId} onChange={set('orgId')} options={orgOptions(orgs)} empty="any" />
      <SelectField id="f-source" label="Source" value={form.source} onChange={set('source')} options={optionsOf(SOURCES)} empty="any" />
      <SelectField id="f-status" label="Status" value={form.status} onChange={set('status')} options={optionsOf(STATUSES)} empty="any" />
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
  );
}
