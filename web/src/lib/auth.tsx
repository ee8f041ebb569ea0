import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, UNAUTHORIZED_EVENT } from './api';
import * as adminApi from './admin-api';
import type { User } from './types';

type AuthState =
  | { status: 'loading'; user: null; error: null }
  | { status: 'anonymous'; user: null; error: string | null }
  | { status: 'authenticated'; user: User; error: null };

interface AuthContextValue {
  state: AuthState;
  user: User | null;
  isAdmin: boolean;
  login: (username: string, password: string) => Promise<User>;
  logout: () => Promise<void>;
  refresh: () => Promise<void>;
}

const AuthContext = createContext<AuthContextValue | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'loading', user: null, error: null });

  const refresh = useCallback(async () => {
    try {
      const user = await adminApi.me();
      setState({ status: 'authenticated', user, error: null });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setState({ status: 'anonymous', user: null, error: null });
      else
        setState({
          status: 'anonymous',
          user: null,
          error: e instanceof Error ? e.message : 'Could not reach the gateway.',
        });
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => {
    const onUnauthorized = () => setState({ status: 'anonymous', user: null, error: 'Your session has ended. Please sign in again.' });
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, []);

  const login = useCallback(async (username: string, password: string) => {
    const user = await adminApi.login(username, password);
    // The login answer is the User; re-read /auth/me only if it was empty.
    const u = user && user.username ? user : await adminApi.me();
    setState({ status: 'authenticated', user: u, error: null });
    return u;
  }, []);

  const logout = useCallback(async () => {
    try {
      await adminApi.logout();
    } finally {
      setState({ status: 'anonymous', user: null, error: null });
    }
  }, []);

  const value = useMemo<AuthContextValue>(
    () => ({
      state,
      user: state.user,
      isAdmin: state.user?.role === 'admin',
      login,
      logout,
      refresh,
    }),
    [state, login, logout, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth must be used inside <AuthProvider>');
  return ctx;
}
