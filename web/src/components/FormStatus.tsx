import type { FormStatusState } from '../hooks/useFormStatus';
import { InlineError } from './InlineError';

/** The outcome of a form's last submit (useFormStatus), under the form. */
export function FormStatus({ error, done }: Pick<FormStatusState, 'error' | 'done'>) {
  return (
    <>
      <InlineError message={error} wide />
      {done && (
        <p className="ok-text field-wide" role="status">
          {done}
        </p>
      )}
    </>
  );
}
