import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { ConfirmDialog } from '../ConfirmDialog';
import { InlineError } from '../InlineError';
import * as adminApi from '../../lib/admin-api';
import { ApiError } from '../../lib/api';
import { useAuth } from '../../lib/auth';

/** "Delete my account": asks for the password, offers the data download first, then erases. */
export function DeleteAccount() {
  const { logout } = useAuth();
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const ask = (e: FormEvent) => {
    e.preventDefault();
    if (!password) return setError('Enter your password to delete your account.');
    setError(null);
    setConfirming(true);
  };

  const remove = async () => {
    setBusy(true);
    try {
      await adminApi.deleteOwnAccount(password);
      setConfirming(false);
      await logout().catch(() => undefined); // the session is already gone on the server
      navigate('/login', { replace: true });
    } catch (e) {
      setConfirming(false);
      setError(
        e instanceof ApiError && e.status === 401 ? 'The password is wrong.' : e instanceof Error ? e.message : 'Could not delete the account.',
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="delete-account-title" data-testid="delete-account">
      <h2 id="delete-account-title">Delete my account</h2>
      <p className="muted">
        Your account, your API keys and every chat you wrote are deleted for good. Usage counts stay, without their content.
        Download your data first if you want a copy.
      </p>
      <form className="form-grid" onSubmit={ask}>
        <div className="field">
          <label htmlFor="delete-account-password">Your password</label>
          <input
            id="delete-account-password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="field field-actions">
          <button type="submit" className="btn btn-danger" disabled={busy}>
            Delete my account
          </button>
        </div>
      </form>
      <InlineError message={error} />
      <ConfirmDialog
        open={confirming}
        title="Delete your account?"
        confirmLabel={busy ? 'Deleting…' : 'Delete my account'}
        danger
        busy={busy}
        onConfirm={() => void remove()}
        onCancel={() => setConfirming(false)}
      >
        <p>This cannot be undone: your chats are erased. Have you downloaded your data?</p>
      </ConfirmDialog>
    </section>
  );
}

export default DeleteAccount;
