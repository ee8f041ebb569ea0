import { describe, expect, it } from 'vitest';
import { parseSSE, readSSE, SSEParser, type SSEEvent } from './sse';

function feedAll(chunks: string[]): SSEEvent[] {
  const p = new SSEParser();
  const out: SSEEvent[] = [];
  for (const c of chunks) out.push(...p.feed(c));
  out.push(...p.flush());
  return out;
}

const STREAM =
  'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n' +
  'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n' +
  'event: cortex.metrics\ndata: {"status":"complete","ttft_ms":12}\n\n' +
  'data: [DONE]\n\n';

describe('SSEParser', () => {
  it('parses data events, event names and [DONE]', () => {
    const evs = parseSSE(STREAM);
    expect(evs.map((e) => e.event)).toEqual(['message', 'message', 'cortex.metrics', 'message']);
    expect(JSON.parse(evs[0].data).choices[0].delta.content).toBe('Hel');
    expect(JSON.parse(evs[2].data)).toEqual({ status: 'complete', ttft_ms: 12 });
    expect(evs[3].data).toBe('[DONE]');
  });

  it('gives the same events whatever the chunk boundaries', () => {
    const whole = parseSSE(STREAM);
    // every split point, and one char at a time
    for (let i = 1; i < STREAM.length; i++) {
      expect(feedAll([STREAM.slice(0, i), STREAM.slice(i)])).toEqual(whole);
    }
    expect(feedAll(STREAM.split(''))).toEqual(whole);
  });

  it('handles CRLF and CR line endings, including a CR/LF pair split across chunks', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    const whole = parseSSE(STREAM);
    expect(parseSSE(crlf)).toEqual(whole);
    for (let i = 1; i < crlf.length; i++) expect(feedAll([crlf.slice(0, i), crlf.slice(i)])).toEqual(whole);
    expect(parseSSE(STREAM.replace(/\n/g, '\r'))).toEqual(whole);
  });

  it('joins multi-line data with newlines', () => {
    const evs = parseSSE('data: line one\ndata: line two\ndata:\ndata:  indented\n\n');
    expect(evs).toHaveLength(1);
    expect(evs[0].data).toBe('line one\nline two\n\n indented');
  });

  it('ignores comments, unknown fields and events without data', () => {
    const evs = parseSSE(': keep-alive\n\nfoo: bar\nevent: ping\n\nretry: 3000\nid: 7\ndata: x\n\n');
    expect(evs).toEqual([{ event: 'message', data: 'x', id: '7', retry: 3000 }]);
  });

  it('resets the event name after each event', () => {
    const evs = parseSSE('event: error\ndata: {"error":{"message":"boom"}}\n\ndata: next\n\n');
    expect(evs[0].event).toBe('error');
    expect(evs[1].event).toBe('message');
  });

  it('dispatches a trailing event without its blank line on flush', () => {
    const p = new SSEParser();
    expect(p.feed('data: [DONE]')).toEqual([]);
    expect(p.flush()).toEqual([{ event: 'message', data: '[DONE]' }]);
  });

  it('field without a colon and value without a space', () => {
    expect(parseSSE('data\n\n')).toEqual([{ event: 'message', data: '' }]);
    expect(parseSSE('data:abc\n\n')).toEqual([{ event: 'message', data: 'abc' }]);
  });
});

describe('readSSE', () => {
  it('decodes multi-byte UTF-8 split across network chunks', async () => {
    const text = 'data: {"choices":[{"delta":{"content":"héllo 👋 世界"}}]}\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.slice(i, i + 3));
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(ch);
        c.close();
      },
    });
    const evs: SSEEvent[] = [];
    for await (const ev of readSSE(body)) evs.push(ev);
    expect(evs).toHaveLength(2);
    expect(JSON.parse(evs[0].data).choices[0].delta.content).toBe('héllo 👋 世界');
  });
});
