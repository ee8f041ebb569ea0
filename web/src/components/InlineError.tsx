/** An error shown where it happened (announced to screen readers); nothing when there is none. */
export function InlineError({ message, wide = false }: { message: string | null | undefined; wide?: boolean }) {
  if (!message) return null;
  return (
    <p className={wide ? 'inline-error field-wide' : 'inline-error'} role="alert">
      {message}
    </p>
  );
}
