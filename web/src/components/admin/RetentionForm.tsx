import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { FormStatus } from '../FormStatus';
import { useFormStatus } from '../../hooks/useFormStatus';
import * as adminApi from '../../lib/admin-api';
import { formatDateTime } from '../../lib/format';
import type { Org } from '../../lib/types';

/** Days as typed ('' = kept forever) and back. */
const toDays = (text: string): number | null => (text.trim() === '' ? null : Number(text));
const fromDays = (days: number | null | undefined): string => (days == null ? '' : String(days));

/** How long chats are kept after their last activity: for everyone, and per organisation. */
export function RetentionForm({ orgs }: { orgs: Org[] }) {
  const [settings, setSettings] = useState<adminApi.RetentionSettings | null>(null);
  const [everyone, setEveryone] = useState('');
  const [perOrg, setPerOrg] = useState<Record<string, string>>({});
  const status = useFormStatus('Could not save the retention policy.');

  const show = useCallback((s: adminApi.RetentionSettings) => {
    setSettings(s);
    setEveryone(fromDays(s.default_days));
    setPerOrg(Object.fromEntries(Object.entries(s.org_days).map(([id, d]) => [id, d == null ? 'forever' : String(d)])));
  }, []);

  useEffect(() => {
    adminApi.getRetention().then(show, () => setSettings(null));
  }, [show]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const org_days: Record<string, number | null> = {};
    for (const [id, text] of Object.entries(perOrg)) {
      if (text.trim() === '') continue; // follows the default
      org_days[id] = text.trim() === 'forever' ? null : Number(text);
    }
    const values = [toDays(everyone), ...Object.values(org_days)].filter((d): d is number => d !== null);
    if (values.some((d) => !Number.isInteger(d) || d < 1)) return status.reject('Days must be whole numbers of at least 1.');
    void status.submit(async () => {
      show(await adminApi.setRetention({ default_days: toDays(everyone), org_days }));
      return 'Saved: it applies from the next run.';
    });
  };

  const runNow = () =>
    void status.submit(async () => {
      const run = await adminApi.runRetention();
      show(await adminApi.getRetention());
      return `Run done: ${run.chats_erased} chats erased.`;
    });

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="retention-title" data-testid="retention-form">
      <h2 id="retention-title" className="form-title">
        Chat retention
      </h2>
      <p className="muted">
        Chats quiet for longer than this many days are erased (empty: kept forever, the default). Checked every{' '}
        {settings ? Math.round(settings.interval_sec / 60) : '…'} minutes
        {settings?.last_run_at ? `; last run ${formatDateTime(settings.last_run_at)}` : ''}.
      </p>
      <div className="field">
        <label htmlFor="retention-everyone">Everyone (days)</label>
        <input id="retention-everyone" inputMode="numeric" value={everyone} onChange={(e) => setEveryone(e.target.value)} placeholder="forever" />
      </div>
      {orgs.map((org) => (
        <div className="field" key={String(org.id)}>
          <label htmlFor={`retention-org-${org.id}`}>{org.name} (days)</label>
          <input
            id={`retention-org-${org.id}`}
            value={perOrg[String(org.id)] ?? ''}
            onChange={(e) => setPerOrg({ ...perOrg, [String(org.id)]: e.target.value })}
            placeholder="as everyone"
          />
        </div>
      ))}
      <div className="field field-actions">
        <button type="submit" className="btn btn-primary" disabled={status.busy}>
          Save retention
        </button>{' '}
        <button type="button" className="btn" onClick={runNow} disabled={status.busy}>
          Run now
        </button>
      </div>
      <FormStatus error={status.error} done={status.done} />
    </form>
  );
}

export default RetentionForm;
