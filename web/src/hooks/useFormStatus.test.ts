// @vitest-environment jsdom
import { act, createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import { useFormStatus } from './useFormStatus';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** Render the hook in a real React root; `current` is its latest value. */
function renderStatus(failure: string) {
  const seen: { current: ReturnType<typeof useFormStatus> | null } = { current: null };
  function Probe() {
    seen.current = useFormStatus(failure);
    return null;
  }
  const root = createRoot(document.createElement('div'));
  act(() => root.render(createElement(Probe)));
  return seen as { current: ReturnType<typeof useFormStatus> };
}

describe('admin form status', () => {
  it('is busy while sending, then shows what was done', async () => {
    const status = renderStatus('Could not save.');
    let finish: (message: string) => void = () => {};
    let sent: Promise<void> = Promise.resolve();
    act(() => {
      sent = status.current.submit(() => new Promise<string>((resolve) => (finish = resolve)));
    });
    expect(status.current.busy).toBe(true);
    await act(async () => {
      finish('Created alice.');
      await sent;
    });
    expect(status.current).toMatchObject({ busy: false, error: null, done: 'Created alice.' });
  });

  it('shows the error of a failed send, or a general one, and forgets the last success', async () => {
    const status = renderStatus('Could not save.');
    await act(() => status.current.submit(async () => 'Created alice.'));
    await act(() =>
      status.current.submit(async () => {
        throw new Error('username taken');
      }),
    );
    expect(status.current).toMatchObject({ busy: false, error: 'username taken', done: null });
    await act(() =>
      status.current.submit(async () => {
        throw 'not an Error';
      }),
    );
    expect(status.current.error).toBe('Could not save.');
  });

  it('refuses bad input without sending', () => {
    const status = renderStatus('Could not save.');
    act(() => status.current.reject('Username and password are required.'));
    expect(status.current).toMatchObject({ busy: false, error: 'Username and password are required.', done: null });
  });
});
