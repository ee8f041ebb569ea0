import { DeleteAccount } from '../components/account/DeleteAccount';
import { useAuth } from '../lib/auth';

/** The signed-in user's own account: their data, and deleting the account. */
export function AccountPage() {
  const { user } = useAuth();
  return (
    <div className="page">
      <h1>My account</h1>
      <p className="muted">
        Signed in as <strong>{user?.username}</strong>
        {user?.org_name ? ` (${user.org_name})` : ''}.
      </p>
      <DeleteAccount />
    </div>
  );
}

export default AccountPage;
