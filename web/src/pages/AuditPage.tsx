import { useEffect, useState } from 'react';
import { InlineError } from '../components/InlineError';
import { SelectField } from '../components/SelectField';
import * as adminApi from '../lib/admin-api';
import { exportUrl, userTimeline, type TimelineView } from '../lib/audit-api';
import { formatDateTime } from '../lib/format';
import type { User } from '../lib/types';

/** Admin: pick a user, read what happened to their account, export their events as JSON Lines. */
export function AuditPage() {
  const [users, setUsers] = useState<User[]>([]);
  const [userId, setUserId] = useState('');
  const [timeline, setTimeline] = useState<TimelineView | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    adminApi
      .listUsers()
      .then(setUsers)
      .catch(() => setError('Could not load the users.'));
  }, []);

  useEffect(() => {
    if (!userId) return setTimeline(null);
    let current = true;
    setLoading(true);
    setError(null);
    userTimeline(userId)
      .then((found) => current && setTimeline(found ?? null))
      .catch(() => current && setError('Could not load the timeline.'))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [userId]);

  const options = users.map((u) => ({ value: String(u.id), label: u.username }));
  return (
    <div className="page">
      <h1>Audit</h1>
      <p className="muted">Everything that happened to an account, from the event store: logins, chats, keys, and what administrators did.</p>
      <div className="card filters">
        <SelectField id="audit-user" label="User" value={userId} onChange={setUserId} options={options} empty="Pick a user" />
        {userId && (
          <div className="field field-actions">
            <a className="btn" href={exportUrl(userId)} download>
              Export JSONL
            </a>
          </div>
        )}
      </div>
      {error && <InlineError message={error} />}
      {loading && <p role="status">Loading…</p>}
      {timeline && !loading && (
        <section className="card" aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline of {timeline.username}</h2>
          {timeline.total > timeline.entries.length && (
            <p className="muted small">
              The newest {timeline.entries.length} of {timeline.total} events; export them all as JSONL.
            </p>
          )}
          <div className="table-wrap">
            <table className="table" data-testid="audit-timeline">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                </tr>
              </thead>
              <tbody>
                {timeline.entries.map((e) => (
                  <tr key={`${e.stream}-${e.seq}`}>
                    <td>{formatDateTime(e.time)}</td>
                    <td>{e.actor}</td>
                    <td>{e.what}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {timeline.entries.length === 0 && <p className="muted">No events yet.</p>}
        </section>
      )}
    </div>
  );
}

export default AuditPage;
