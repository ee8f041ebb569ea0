// Markdown -> sanitised HTML for assistant messages.
//
// Two layers: marked renders raw HTML from the model as *text* (escaped), and DOMPurify then
// sanitises the result (drops event handlers, javascript:/data: links, scripts, forms, styles).
// Images are never loaded: a model's output could otherwise send data to any server in an image
// URL. They are shown as a link to the image instead.

import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';
import { escapeHtml, highlightCode } from './highlight';

function codeBlock(text: string, lang: string | undefined, highlight: boolean): string {
  const language = (lang ?? '').trim().split(/\s+/)[0] ?? '';
  const body = highlight ? highlightCode(text, language) : escapeHtml(text);
  const langClass = language ? ` language-${escapeHtml(language.replace(/[^\w+#.-]/g, ''))}` : '';
  return (
    `<div class="code-block">` +
    `<div class="code-header"><span class="code-lang">${escapeHtml(language || 'text')}</span>` +
    `<button type="button" class="copy-code" data-copy-code="1">Copy</button></div>` +
    `<pre><code class="hljs${langClass}">${body}</code></pre></div>`
  );
}

function makeMarked(highlight: boolean): Marked {
  return new Marked({
    gfm: true,
    breaks: false,
    async: false,
    renderer: {
      code({ text, lang }: Tokens.Code): string {
        return codeBlock(text, lang, highlight);
      },
      // Raw HTML in model output is shown as text, never interpreted.
      html({ text }: Tokens.HTML | Tokens.Tag): string {
        return escapeHtml(text);
      },
      image({ href, text }: Tokens.Image): string {
        const label = `🖼 ${escapeHtml(text || 'image')}`;
        return /^https?:/i.test(href.trim())
          ? `<a href="${escapeHtml(href.trim())}" class="md-image-link">${label}</a>`
          : `<span class="md-image-link">${label}</span>`;
      },
    },
  });
}

const highlighted = makeMarked(true);
const plain = makeMarked(false);

const SAFE_URL = /^(?:https?:|mailto:|#|\/|\.\.?\/)/i;

let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    const el = node as Element;
    if (!el.tagName) return;
    const tag = el.tagName.toLowerCase();
    if (tag === 'a') {
      const href = el.getAttribute('href');
      if (href !== null && !SAFE_URL.test(href.trim())) el.removeAttribute('href');
      if (el.getAttribute('href')) {
        el.setAttribute('target', '_blank');
        el.setAttribute('rel', 'noopener noreferrer nofollow');
      }
    }
  });
}

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed', 'script', 'svg', 'math', 'img'],
  FORBID_ATTR: ['style', 'onerror', 'onload', 'onclick'],
  ADD_ATTR: ['target', 'rel'],
  ALLOW_DATA_ATTR: true,
};

export function sanitizeHtml(html: string): string {
  installHooks();
  return DOMPurify.sanitize(html, PURIFY_CONFIG) as unknown as string;
}

const cache = new Map<string, string>();
const CACHE_MAX = 400;

/**
 * Render markdown to sanitised HTML. `highlight=false` is used while a message is streaming
 * (cheaper; code is highlighted once the message is complete). Finished renders are cached.
 */
export function renderMarkdown(src: string, highlight = true): string {
  const key = highlight ? src : '';
  if (highlight) {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
  }
  const raw = (highlight ? highlighted : plain).parse(src) as string;
  const html = sanitizeHtml(raw);
  if (highlight) {
    if (cache.size >= CACHE_MAX) {
      const first = cache.keys().next().value;
      if (first !== undefined) cache.delete(first);
    }
    cache.set(key, html);
  }
  return html;
}
