import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from './api';
import { buildCompletionBody, buildCompletionHeaders, interpretSSE, streamChat, type StreamEvent } from './chat-client';

function sseResponse(chunks: string[], status = 200): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('interpretSSE', () => {
  it('extracts content deltas, finish reasons and usage', () => {
    expect(interpretSSE('message', '{"choices":[{"delta":{"role":"assistant"}}]}')).toEqual([]);
    expect(interpretSSE('message', '{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}')).toEqual([
      { type: 'delta', content: 'Hi' },
    ]);
    expect(interpretSSE('message', '{"choices":[{"delta":{},"finish_reason":"stop"}]}')).toEqual([
      { type: 'finish', reason: 'stop' },
    ]);
    expect(interpretSSE('message', '{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}')).toEqual([
      { type: 'usage', usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } },
    ]);
  });

  it('reads the cortex.metrics event', () => {
    expect(interpretSSE('cortex.metrics', '{"status":"complete","ttft_ms":100,"completion_tokens":9}')).toEqual([
      { type: 'metrics', metrics: { status: 'complete', ttft_ms: 100, completion_tokens: 9 } },
    ]);
  });

  it('reports error objects in data', () => {
    expect(interpretSSE('message', '{"error":{"message":"upstream died","type":"upstream_error","code":"502"}}')).toEqual([
      { type: 'error', message: 'upstream died', code: '502' },
    ]);
    expect(interpretSSE('error', 'plain text failure')).toEqual([{ type: 'error', message: 'plain text failure' }]);
  });

  it('recognises [DONE]', () => {
    expect(interpretSSE('message', '[DONE]')).toEqual([{ type: 'done' }]);
  });
});

describe('request shape', () => {
  it('asks for usage in the stream and sends the playground headers', () => {
    const opts = {
      model: 'm',
      messages: [{ role: 'user' as const, content: 'hi' }],
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 64,
      sessionId: 'abc',
      regenerate: true,
    };
    expect(buildCompletionBody(opts)).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 64,
    });
    const h = buildCompletionHeaders(opts);
    expect(h['X-Chat-Session-Id']).toBe('abc');
    expect(h['X-Cortex-Metrics']).toBe('true');
    expect(h['X-Chat-Regenerate']).toBe('true');
    expect(buildCompletionHeaders({ ...opts, regenerate: false, sessionId: null })['X-Chat-Regenerate']).toBeUndefined();
  });
});

describe('streamChat', () => {
  it('streams deltas split across chunks, then usage, metrics and done', async () => {
    const text =
      'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n' +
      ': ping\n\n' +
      'data: {"choices":[{"delta":{"content":"lo!"},"finish_reason":"stop"}]}\n\n' +
      'data: {"choices":[],"usage":{"completion_tokens":3}}\n\n' +
      'event: cortex.metrics\ndata: {"status":"complete","completion_tokens":3}\n\n' +
      'data: [DONE]\n\n' +
      'data: {"choices":[{"delta":{"content":"ignored after DONE"}}]}\n\n';
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 7) chunks.push(text.slice(i, i + 7));
    const fetchMock = vi.fn(async () => sseResponse(chunks));
    vi.stubGlobal('fetch', fetchMock);

    const events: StreamEvent[] = [];
    for await (const ev of streamChat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], sessionId: 's1' })) events.push(ev);
    expect(events.filter((e) => e.type === 'delta').map((e) => (e as { content: string }).content).join('')).toBe('Hello!');
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'finish', 'usage', 'metrics', 'done']);

    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/v1/chat/completions');
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    const headers = init.headers as Record<string, string>;
    expect(headers['X-Chat-Session-Id']).toBe('s1');
    expect(headers['X-Cortex-Metrics']).toBe('true');
    expect(JSON.parse(init.body as string).stream_options).toEqual({ include_usage: true });
  });

  it('throws ApiError with the OpenAI-style message and status', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        new Response(JSON.stringify({ error: { message: 'Model m is not running', type: 'unavailable', code: '503' } }), {
          status: 503,
        }),
      ),
    );
    const it = streamChat({ model: 'm', messages: [] });
    await expect(it.next()).rejects.toMatchObject({ status: 503, message: 'Model m is not running' });
  });

  it('throws ApiError with the {detail} of a 409 lock conflict', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify({ detail: 'This chat is locked to model X. Start a new chat to use Y.' }), { status: 409 })),
    );
    let err: unknown;
    try {
      for await (const _ of streamChat({ model: 'Y', messages: [] })) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).message).toContain('locked to model X');
  });

  it('turns a network failure into ApiError status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await expect(streamChat({ model: 'm', messages: [] }).next()).rejects.toMatchObject({ status: 0 });
  });

  it('propagates an abort', async () => {
    const ctrl = new AbortController();
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init: RequestInit) => {
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('data: {"choices":[{"delta":{"content":"partial"}}]}\n\n'));
            init.signal?.addEventListener('abort', () => c.error(new DOMException('Aborted', 'AbortError')));
          },
        });
        return new Response(body, { status: 200 });
      }),
    );
    const seen: string[] = [];
    let aborted = false;
    try {
      for await (const ev of streamChat({ model: 'm', messages: [], signal: ctrl.signal })) {
        if (ev.type === 'delta') {
          seen.push(ev.content);
          ctrl.abort();
        }
      }
    } catch (e) {
      aborted = (e as Error).name === 'AbortError';
    }
    expect(seen).toEqual(['partial']);
    expect(aborted).toBe(true);
  });
});
