import { DeleteAccount } from '../components/account/DeleteAccount';
import { DownloadData } from '../components/account/DownloadData';
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
      <section className="card">
        <h2>Your data</h2>
        <p className="muted">Every chat, usage record and security event of yours, as one zip file.</p>
        <DownloadData />
      </section>
      <DeleteAccount />
    </div>
  );
}

export default AccountPage;
