import type { ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { AppShell } from './components/AppShell';
import { AuthProvider, useAuth } from './lib/auth';
import { AuditPage } from './pages/AuditPage';
import { AccountPage } from './pages/AccountPage';
import { BenchPage } from './pages/BenchPage';
import { BenchRunPage } from './pages/BenchRunPage';
import { ChatPage } from './pages/ChatPage';
import { ComparePage } from './pages/ComparePage';
import { LeaderboardPage } from './pages/LeaderboardPage';
import { LoginPage } from './pages/LoginPage';
import { ModelsPage } from './pages/ModelsPage';
import { UsagePage } from './pages/UsagePage';
import { UsersPage } from './pages/UsersPage';

function Splash({ text }: { text: string }) {
  return (
    <div className="splash" role="status">
      {text}
    </div>
  );
}

function RequireAuth({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status === 'loading') return <Splash text="Loading…" />;
  if (state.status === 'anonymous') {
    return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  }
  return <>{children}</>;
}

function AdminOnly({ children }: { children: ReactNode }) {
  const { isAdmin } = useAuth();
  if (!isAdmin) {
    return (
      <div className="page">
        <h1>Administrators only</h1>
        <p className="muted">This page is available to administrators. Ask an admin for access.</p>
      </div>
    );
  }
  return <>{children}</>;
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        <a href="/chat">Go to the Chat Playground</a>
      </p>
    </div>
  );
}

export default function App() {
  return (
    <BrowserRouter>
      <AuthProvider>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route
            element={
              <RequireAuth>
                <AppShell />
              </RequireAuth>
            }
          >
            <Route index element={<Navigate to="/chat" replace />} />
            {/* One route for /chat and /chat/:id so the page is not remounted when a new chat gets its id. */}
            <Route path="chat/:id?" element={<ChatPage />} />
            <Route path="compare/:id?" element={<ComparePage />} />
            <Route path="leaderboard" element={<LeaderboardPage />} />
            <Route path="models" element={<ModelsPage />} />
            <Route path="account" element={<AccountPage />} />
            <Route path="bench" element={<BenchPage />} />
            <Route path="bench/runs/:id" element={<BenchRunPage />} />
            <Route
              path="usage"
              element={
                <AdminOnly>
                  <UsagePage />
                </AdminOnly>
              }
            />
            <Route
              path="users"
              element={
                <AdminOnly>
                  <UsersPage />
                </AdminOnly>
              }
            />
            <Route
              path="admin/audit"
              element={
                <AdminOnly>
                  <AuditPage />
                </AdminOnly>
              }
            />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </AuthProvider>
    </BrowserRouter>
  );
}
