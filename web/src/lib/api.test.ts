// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, errorMessageFromBody, readCookie, withQuery } from './api';

describe('readCookie', () => {
  it('finds and decodes one cookie', () => {
    expect(readCookie('cortex_csrf', 'a=1; cortex_csrf=abc%3D%3D; b=2')).toBe('abc==');
    expect(readCookie('missing', 'a=1')).toBeNull();
    expect(readCookie('x', '')).toBeNull();
  });
});

describe('errorMessageFromBody', () => {
  it('reads {detail}, validation errors and OpenAI errors', () => {
    expect(errorMessageFromBody({ detail: 'Nope' }, 400)).toBe('Nope');
    expect(errorMessageFromBody({ detail: [{ msg: 'field required' }, { msg: 'too short' }] }, 422)).toBe('field required; too short');
    expect(errorMessageFromBody({ error: { message: 'down' } }, 503)).toBe('down');
    expect(errorMessageFromBody(null, 500, 'Internal Server Error')).toBe('Request failed (500 Internal Server Error)');
  });
});

describe('api()', () => {
  const fetchMock = vi.fn();
  beforeEach(() => {
    fetchMock.mockReset();
    vi.stubGlobal('fetch', fetchMock);
    document.cookie = 'cortex_csrf=tok123';
  });
  afterEach(() => vi.unstubAllGlobals());

  it('sends the CSRF header on state-changing requests only', async () => {
    fetchMock.mockImplementation(async () => new Response('{"ok":true}', { status: 200 }));
    await api('/v1/chat/sessions');
    let init = fetchMock.mock.calls[0][1] as RequestInit;
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined();
    expect(init.credentials).toBe('same-origin');

    await api('/v1/chat/sessions', { method: 'POST', body: { model_name: 'm' } });
    init = fetchMock.mock.calls[1][1] as RequestInit;
    const headers = init.headers as Record<string, string>;
    expect(headers['X-CSRF-Token']).toBe('tok123');
    expect(headers['Content-Type']).toBe('application/json');
    expect(init.body).toBe('{"model_name":"m"}');

    fetchMock.mockResolvedValue(new Response(null, { status: 204 }));
    await expect(api('/v1/chat/sessions/x', { method: 'DELETE' })).resolves.toBeUndefined();
    expect((fetchMock.mock.calls[2][1].headers as Record<string, string>)['X-CSRF-Token']).toBe('tok123');
  });

  it('throws ApiError with status and detail', async () => {
    fetchMock.mockResolvedValue(new Response('{"detail":"Not found"}', { status: 404 }));
    const err = (await api('/v1/chat/sessions/nope').catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(404);
    expect(err.message).toBe('Not found');
  });

  it('reads Retry-After on 429', async () => {
    fetchMock.mockResolvedValue(new Response('{"detail":"Too many attempts"}', { status: 429, headers: { 'Retry-After': '30' } }));
    const err = (await api('/auth/login', { method: 'POST', body: {}, quiet401: true }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(429);
    expect(err.retryAfter).toBe(30);
  });

  it('broadcasts 401 so the app can go to /login', async () => {
    const seen = vi.fn();
    window.addEventListener('cortex:unauthorized', seen);
    fetchMock.mockResolvedValue(new Response('{"detail":"Not authenticated"}', { status: 401 }));
    await api('/v1/chat/sessions').catch(() => undefined);
    expect(seen).toHaveBeenCalledTimes(1);
    await api('/auth/me', { quiet401: true }).catch(() => undefined);
    expect(seen).toHaveBeenCalledTimes(1);
    window.removeEventListener('cortex:unauthorized', seen);
  });
});

describe('withQuery', () => {
  it('skips empty values', () => {
    expect(withQuery('/admin/usage', { model: 'a b', user_id: '', cursor: undefined, limit: 50 })).toBe('/admin/usage?model=a+b&limit=50');
    expect(withQuery('/x', {})).toBe('/x');
  });
});
