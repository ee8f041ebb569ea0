// The busy / error / done state of an admin form (ModelsPage, UsersPage): one submit at a time,
// the last outcome shown under the form (FormStatus).

import { useCallback, useState } from 'react';

export interface FormStatusState {
  busy: boolean;
  error: string | null;
  done: string | null;
}

export function useFormStatus(failure: string) {
  const [state, setState] = useState<FormStatusState>({ busy: false, error: null, done: null });

  /** Refuse the input before sending anything: show why. */
  const reject = useCallback((error: string) => setState({ busy: false, error, done: null }), []);

  /** Send it: `work` returns the message shown on success; what it throws is shown instead. */
  const submit = useCallback(
    async (work: () => Promise<string>) => {
      setState({ busy: true, error: null, done: null });
      try {
        const done = await work();
        setState({ busy: false, error: null, done });
      } catch (err) {
        setState({ busy: false, error: err instanceof Error ? err.message : failure, done: null });
      }
    },
    [failure],
  );

  return { ...state, reject, submit };
}
