// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { renderMarkdown, sanitizeHtml } from './markdown';

function dom(html: string): HTMLElement {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

function hasHandlers(root: HTMLElement): boolean {
  for (const el of Array.from(root.querySelectorAll('*'))) {
    for (const a of Array.from(el.attributes)) if (a.name.toLowerCase().startsWith('on')) return true;
  }
  return false;
}

describe('markdown rendering', () => {
  it('renders tables, lists and headings', () => {
    const html = renderMarkdown('# Title\n\n- one\n- two\n\n1. a\n2. b\n\n| A | B |\n|---|---|\n| 1 | 2 |\n');
    const d = dom(html);
    expect(d.querySelector('h1')?.textContent).toBe('Title');
    expect(d.querySelectorAll('ul li')).toHaveLength(2);
    expect(d.querySelectorAll('ol li')).toHaveLength(2);
    expect(d.querySelectorAll('table td')).toHaveLength(2);
  });

  it('highlights fenced code and adds a Copy button', () => {
    const d = dom(renderMarkdown('```python\ndef f(x):\n    return x\n```'));
    const code = d.querySelector('pre code');
    expect(code?.className).toContain('language-python');
    expect(code?.querySelector('.hljs-keyword')).not.toBeNull();
    expect(code?.textContent).toBe('def f(x):\n    return x');
    const btn = d.querySelector('button[data-copy-code]');
    expect(btn?.textContent).toBe('Copy');
    expect(btn?.getAttribute('type')).toBe('button');
  });

  it('renders code without highlighting while streaming', () => {
    const d = dom(renderMarkdown('```python\ndef f(): pass\n```', false));
    expect(d.querySelector('.hljs-keyword')).toBeNull();
    expect(d.querySelector('pre code')?.textContent).toBe('def f(): pass');
  });

  it('makes raw HTML inert: <img src=x onerror=alert(1)>', () => {
    const html = renderMarkdown('Hello <img src=x onerror=alert(1)> world');
    const d = dom(html);
    expect(d.querySelector('img')).toBeNull();
    expect(hasHandlers(d)).toBe(false);
    expect(html).not.toMatch(/<img/i);
    // shown as text instead
    expect(d.textContent).toContain('<img src=x onerror=alert(1)>');
  });

  it('drops <script> and inline handlers in block HTML', () => {
    const d = dom(renderMarkdown('<script>alert(1)</script>\n\n<div onclick="alert(1)">x</div>\n\n<svg onload=alert(1)></svg>'));
    expect(d.querySelector('script')).toBeNull();
    expect(d.querySelector('svg')).toBeNull();
    expect(hasHandlers(d)).toBe(false);
  });

  it('makes javascript: links inert', () => {
    for (const src of ['[x](javascript:alert(1))', '[x](JaVaScRiPt:alert(1))', '<javascript:alert(1)>', '[x](data:text/html,<script>alert(1)</script>)']) {
      const d = dom(renderMarkdown(src));
      for (const a of Array.from(d.querySelectorAll('a'))) {
        const href = a.getAttribute('href') ?? '';
        expect(href.toLowerCase()).not.toMatch(/^\s*(javascript|data|vbscript):/);
      }
      expect(hasHandlers(d)).toBe(false);
    }
  });

  it('keeps ordinary links, opening them safely in a new tab', () => {
    const a = dom(renderMarkdown('[docs](https://example.com/x)')).querySelector('a');
    expect(a?.getAttribute('href')).toBe('https://example.com/x');
    expect(a?.getAttribute('target')).toBe('_blank');
    expect(a?.getAttribute('rel')).toContain('noopener');
  });

  it('sanitizeHtml strips handlers and javascript: URLs from arbitrary HTML', () => {
    const d = dom(sanitizeHtml('<img src="x" onerror="alert(1)"><a href="javascript:alert(1)">y</a><iframe src="https://e.x"></iframe>'));
    expect(hasHandlers(d)).toBe(false);
    expect(d.querySelector('a')?.getAttribute('href')).toBeNull();
    expect(d.querySelector('iframe')).toBeNull();
    expect(d.querySelector('img')).toBeNull();
  });

  it('never loads images: they become links (http) or plain labels', () => {
    const d = dom(renderMarkdown('![chart](https://example.com/c.png?q=secret) ![x](javascript:alert(1))'));
    expect(d.querySelector('img')).toBeNull();
    const link = d.querySelector('a.md-image-link');
    expect(link?.getAttribute('href')).toBe('https://example.com/c.png?q=secret');
    expect(link?.textContent).toContain('chart');
    expect(d.querySelectorAll('span.md-image-link')).toHaveLength(1);
    expect(hasHandlers(d)).toBe(false);
  });
});
