import { useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useAuth } from '../lib/auth';
import { DownloadData } from './account/DownloadData';

export function AppShell() {
  const { user, isAdmin, logout } = useAuth();
  const [navOpen, setNavOpen] = useState(false);
  const location = useLocation();
  const navigate = useNavigate();
  const [loggingOut, setLoggingOut] = useState(false);

  // Close the drawer after navigating (narrow screens).
  useEffect(() => setNavOpen(false), [location.pathname]);

  useEffect(() => {
    if (!navOpen) return;
    document.querySelector<HTMLElement>('#app-nav a')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setNavOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [navOpen]);

  const onLogout = async () => {
    setLoggingOut(true);
    try {
      await logout();
    } catch {
      /* the local session is cleared anyway */
    } finally {
      setLoggingOut(false);
      navigate('/login', { replace: true });
    }
  };

  const link = ({ isActive }: { isActive: boolean }) => `nav-link${isActive ? ' active' : ''}`;

  return (
    <div className={`app${navOpen ? ' nav-open' : ''}`}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="btn btn-small"
          aria-expanded={navOpen}
          aria-controls="app-nav"
          onClick={() => setNavOpen((o) => !o)}
        >
          Menu
        </button>
        <span className="brand-text">Cortex</span>
      </header>
      <nav id="app-nav" className="app-nav" aria-label="Main navigation">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            C
          </span>
          <span className="brand-text">Cortex</span>
        </div>
        <div className="nav-section">
          <h2 className="nav-heading">Platform</h2>
          <NavLink to="/models" className={link}>
            Models
          </NavLink>
          <NavLink to="/bench" className={link}>
            Benchmarks
          </NavLink>
        </div>
        <div className="nav-section">
          <h2 className="nav-heading">Chat</h2>
          <NavLink to="/chat" className={link}>
            Playground
          </NavLink>
          <NavLink to="/compare" className={link}>
            Compare
          </NavLink>
          <NavLink to="/leaderboard" className={link}>
            Leaderboard
          </NavLink>
        </div>
        {isAdmin && (
          <div className="nav-section">
            <h2 className="nav-heading">Administration</h2>
            <NavLink to="/usage" className={link}>
              Usage
            </NavLink>
            <NavLink to="/users" className={link}>
              Users
            </NavLink>
            <NavLink to="/admin/audit" className={link}>
              Audit
            </NavLink>
          </div>
        )}
        <div className="nav-user">
          <div className="nav-user-name">
            <span>{user?.username}</span>
            <span className="badge">{user?.role}</span>
          </div>
          {user?.org_name && <div className="muted small">{user.org_name}</div>}
          <DownloadData />
          <NavLink to="/account" className={link}>
            My account
          </NavLink>
          <button type="button" className="btn btn-small btn-block" onClick={() => void onLogout()} disabled={loggingOut}>
            Log out
          </button>
        </div>
      </nav>
      {navOpen && <div className="backdrop nav-backdrop" onClick={() => setNavOpen(false)} aria-hidden="true" />}
      <main id="main" className="app-main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

export default AppShell;
