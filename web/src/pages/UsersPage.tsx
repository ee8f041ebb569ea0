import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { RetentionForm } from '../components/admin/RetentionForm';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { FormStatus } from '../components/FormStatus';
import { InlineError } from '../components/InlineError';
import { orgOptions, SelectField } from '../components/SelectField';
import { useFormStatus } from '../hooks/useFormStatus';
import * as adminApi from '../lib/admin-api';
import { useAuth } from '../lib/auth';
import { copyText } from '../lib/clipboard';
import { formatDateTime } from '../lib/format';
import type { ApiKeyInfo, NewApiKey, Org, User } from '../lib/types';

function NewKeyBox({ created, owner, onClose }: { created: NewApiKey; owner: string; onClose: () => void }) {
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <section className="card key-box" role="region" aria-labelledby="new-key-title" data-testid="new-api-key">
      <h2 id="new-key-title">API key for {owner}</h2>
      <p className="banner banner-warn" role="alert">
        Copy this key now. It will not be shown again.
      </p>
      <div className="key-row">
        <input className="mono key-value" readOnly value={created.key} aria-label="New API key" onFocus={(e) => e.currentTarget.select()} />
        <button type="button" className="btn btn-primary" onClick={() => void copyText(created.key).then(setCopied)}>
          {copied ? 'Copied' : 'Copy key'}
        </button>
      </div>
      {copied === false && <p className="inline-error">Copy failed: select the key and copy it by hand.</p>}
      <button type="button" className="btn btn-small" onClick={onClose}>
        I have saved the key
      </button>
    </section>
  );
}

function CreateUserForm({ orgs, onCreated }: { orgs: Org[]; onCreated: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<'user' | 'admin'>('user');
  const [orgId, setOrgId] = useState('');
  const status = useFormStatus('Could not create the user.');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!username.trim() || !password) return status.reject('Username and password are required.');
    void status.submit(async () => {
      const body: { username: string; password: string; role: string; org_id?: string | number } = {
        username: username.trim(),
        password,
        role,
      };
      if (orgId) {
        const org = orgs.find((o) => String(o.id) === orgId);
        body.org_id = org ? org.id : orgId;
      }
      await adminApi.createUser(body);
      setUsername('');
      setPassword('');
      setRole('user');
      onCreated();
      return `Created ${username.trim()}.`;
    });
  };

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="create-user-title">
      <h2 id="create-user-title" className="form-title">
        Create user
      </h2>
      <div className="field">
        <label htmlFor="new-username">Username</label>
        <input id="new-username" autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="new-password">Password</label>
        <input
          id="new-password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </div>
      <div className="field">
        <label htmlFor="new-role">Role</label>
        <select id="new-role" value={role} onChange={(e) => setRole(e.target.value as 'user' | 'admin')}>
          <option value="user">user</option>
          <option value="admin">admin</option>
        </select>
      </div>
      {orgs.length > 0 && (
        <SelectField id="new-org" label="Organisation" value={orgId} onChange={setOrgId} options={orgOptions(orgs)} empty="default" />
      )}
      <div className="field field-actions">
        <button type="submit" className="btn btn-primary" disabled={status.busy}>
          {status.busy ? 'Creating…' : 'Create user'}
        </button>
      </div>
      <FormStatus error={status.error} done={status.done} />
    </form>
  );
}

export function UsersPage() {
  const { user: me, refresh: refreshMe } = useAuth();
  const [users, setUsers] = useState<User[]>([]);
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [keys, setKeys] = useState<ApiKeyInfo[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [confirmDisable, setConfirmDisable] = useState<string | null>(null);
  const [newKey, setNewKey] = useState<{ key: NewApiKey; owner: string } | null>(null);
  const [toDelete, setToDelete] = useState<User | null>(null);
  const [deleting, setDeleting] = useState(false);

  const load = useCallback(async () => {
    try {
      const [u, o, k] = await Promise.all([
        adminApi.listUsers(),
        adminApi.listOrgs().catch(() => [] as Org[]),
        adminApi.listKeys().catch(() => [] as ApiKeyInfo[]),
      ]);
      setUsers(u);
      setOrgs(o);
      setKeys(k);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not load users.');
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const disable = async (u: User) => {
    try {
      await adminApi.disableUser(u.id);
      setConfirmDisable(null);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not disable the user.');
    }
  };

  const enable = async (u: User) => {
    try {
      await adminApi.enableUser(u.id);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not enable the user.');
    }
  };

  const remove = async (u: User) => {
    setDeleting(true);
    try {
      await adminApi.deleteUser(u.id);
      setToDelete(null);
      await load();
    } catch (e) {
      setToDelete(null);
      setError(e instanceof Error ? e.message : 'Could not delete the user.');
    } finally {
      setDeleting(false);
    }
  };

  const changeRole = async (u: User, role: User['role']) => {
    try {
      await adminApi.setUserRole(u.id, role);
      // Demoting yourself takes the admin pages away at once: the app re-reads who you are.
      if (String(u.id) === String(me?.id)) await refreshMe();
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not change the role.');
    }
  };

  const createKey = async (u: User) => {
    try {
      const k = await adminApi.createKey({ user_id: u.id, name: `${u.username} key` });
      setNewKey({ key: k, owner: u.username });
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not create an API key.');
    }
  };

  const revokeKey = async (k: ApiKeyInfo) => {
    try {
      await adminApi.deleteKey(k.id);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : 'Could not revoke the key.');
    }
  };

  const usernameOf = (id: string | number) => users.find((u) => String(u.id) === String(id))?.username ?? String(id);

  return (
    <div className="page">
      <h1>Users</h1>
      <InlineError message={error} />
      {newKey && <NewKeyBox created={newKey.key} owner={newKey.owner} onClose={() => setNewKey(null)} />}
      <section className="card">
        <h2>All users</h2>
        <div className="table-wrap">
          <table className="table" data-testid="users-table">
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col">Organisation</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={String(u.id)}>
                  <td>{u.username}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.username}`}
                      value={u.role}
                      onChange={(e) => void changeRole(u, e.target.value as User['role'])}
                    >
                      <option value="user">user</option>
                      <option value="admin">admin</option>
                    </select>
                  </td>
                  <td>{u.org_name ?? '—'}</td>
                  <td>
                    {u.disabled ? <span className="badge badge-error">disabled</span> : <span className="badge health-healthy">active</span>}
                  </td>
                  <td className="nowrap">
                    <button
                      type="button"
                      className="btn btn-small"
                      onClick={() => void createKey(u)}
                      disabled={u.disabled}
                      aria-label={`Create API key for ${u.username}`}
                    >
                      Create API key
                    </button>{' '}
                    {u.disabled && (
                      <button
                        type="button"
                        className="btn btn-small"
                        aria-label={`Enable ${u.username}`}
                        onClick={() => void enable(u)}
                      >
                        Enable
                      </button>
                    )}
                    {!u.disabled &&
                      String(u.id) !== String(me?.id) &&
                      (confirmDisable === String(u.id) ? (
                        <>
                          <button type="button" className="btn btn-small btn-danger" onClick={() => void disable(u)}>
                            Confirm disable
                          </button>{' '}
                          <button type="button" className="btn btn-small" onClick={() => setConfirmDisable(null)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          aria-label={`Disable ${u.username}`}
                          onClick={() => setConfirmDisable(String(u.id))}
                        >
                          Disable
                        </button>
                      ))}
                    {String(u.id) !== String(me?.id) && (
                      <>
                        {' '}
                        <button
                          type="button"
                          className="btn btn-small btn-danger"
                          aria-label={`Delete ${u.username}`}
                          onClick={() => setToDelete(u)}
                        >
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <CreateUserForm orgs={orgs} onCreated={() => void load()} />
      <RetentionForm orgs={orgs} />
      <ConfirmDialog
        open={toDelete !== null}
        title={`Delete ${toDelete?.username ?? 'this user'}?`}
        confirmLabel={deleting ? 'Deleting…' : 'Delete user'}
        danger
        busy={deleting}
        onConfirm={() => toDelete && void remove(toDelete)}
        onCancel={() => setToDelete(null)}
      >
        <p>The account, its API keys and every chat it wrote are erased for good. Usage counts stay.</p>
      </ConfirmDialog>
      <section className="card">
        <h2>API keys</h2>
        {keys.length === 0 ? (
          <p className="muted">No API keys.</p>
        ) : (
          <div className="table-wrap">
            <table className="table table-nowrap">
              <thead>
                <tr>
                  <th scope="col">Prefix</th>
                  <th scope="col">User</th>
                  <th scope="col">Name</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => (
                  <tr key={String(k.id)}>
                    <td className="mono">{k.prefix}…</td>
                    <td>{k.username ?? usernameOf(k.user_id)}</td>
                    <td>{k.name ?? '—'}</td>
                    <td>{formatDateTime(k.created_at)}</td>
                    <td>{k.expires_at ? formatDateTime(k.expires_at) : 'never'}</td>
                    <td>{k.last_used_at ? formatDateTime(k.last_used_at) : '—'}</td>
                    <td>
                      {k.revoked_at ? (
                        <span className="badge badge-error">revoked</span>
                      ) : (
                        <span className="badge health-healthy">active</span>
                      )}
                    </td>
                    <td>
                      {!k.revoked_at && (
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          aria-label={`Revoke key ${k.prefix}`}
                          onClick={() => void revokeKey(k)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

export default UsersPage;
