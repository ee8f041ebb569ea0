import { memo, useContext, useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { copyText } from '../../lib/clipboard';
import { renderMarkdown } from '../../lib/markdown';
import { NearViewportContext } from './nearViewport';

interface Props {
  content: string;
  /** User messages are shown as plain (escaped) text. */
  markdown: boolean;
  /** While streaming, markdown is rendered without syntax highlighting (cheaper). */
  streaming?: boolean;
  /** Defer markdown rendering until the message is near the viewport (long chats). */
  lazy?: boolean;
}

/** Markdown (sanitised) or plain text, with Copy buttons on code blocks. */
function MessageContentImpl({ content, markdown, streaming = false, lazy = false }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const [near, setNear] = useState(!lazy);
  const watchNear = useContext(NearViewportContext);

  useEffect(() => {
    if (near || !markdown) return;
    const el = ref.current;
    if (!el || typeof IntersectionObserver === 'undefined') {
      setNear(true);
      return;
    }
    if (!watchNear) return; // the list's watcher comes with its first effect
    return watchNear(el, () => setNear(true));
  }, [near, markdown, watchNear]);

  const html = useMemo(
    () => (markdown && near ? renderMarkdown(content, !streaming) : null),
    [content, markdown, near, streaming],
  );

  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const target = e.target as HTMLElement;
    const btn = target.closest('button[data-copy-code]') as HTMLButtonElement | null;
    if (!btn) return;
    const code = btn.closest('.code-block')?.querySelector('pre code');
    if (!code) return;
    void copyText(code.textContent ?? '').then((ok) => {
      btn.textContent = ok ? 'Copied' : 'Copy failed';
      window.setTimeout(() => {
        btn.textContent = 'Copy';
      }, 1500);
    });
  };

  if (html === null) {
    return (
      <div ref={ref} className={markdown ? 'msg-text msg-text-pending' : 'msg-text'}>
        {content}
      </div>
    );
  }
  return <div ref={ref} className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}

export const MessageContent = memo(MessageContentImpl);
export default MessageContent;
