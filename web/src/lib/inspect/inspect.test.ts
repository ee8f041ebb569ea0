import { describe, expect, it } from 'vitest';
import { checkText, schemaProblem } from './schema';
import { curlSnippet, pythonSnippet, shellQuote } from './snippets';
import { percentile, probabilityColour } from './stats';

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, temperature: { type: 'number' } },
  required: ['city', 'temperature'],
};

describe('schema checks', () => {
  it('passes a valid answer and names the first error path of an invalid one', () => {
    expect(checkText('{"city":"Oslo","temperature":3}', schema).ok).toBe(true);
    expect(checkText('{"city":"Oslo"}', schema)).toMatchObject({ ok: false, path: '/temperature' });
    expect(checkText('{"city":"Oslo","temperature":"warm"}', schema)).toMatchObject({
      ok: false,
      path: '/temperature',
      message: expect.stringContaining('Expected "number"'),
    });
    expect(checkText('{"city":', schema)).toMatchObject({ ok: false, path: 'JSON' });
  });

  it('says when the schema itself is not usable', () => {
    expect(schemaProblem([1])).toMatch(/object/);
    expect(schemaProblem({ type: 'no-such-type' })).toBeTruthy();
    expect(schemaProblem(schema)).toBeNull();
  });
});

describe('snippets', () => {
  it('quotes the body for a shell, quotes included', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const curl = curlSnippet({ model: 'm', messages: [{ role: 'user', content: "it's" }] }, 'http://gw');
    expect(curl).toContain(`'http://gw/v1/chat/completions'`);
    expect(curl).toContain('$CORTEX_API_KEY');
    expect(curl).toContain(`'\\''s`);
  });

  it('the Python snippet uses the openai SDK against the gateway', () => {
    const py = pythonSnippet({ model: 'm', stream: true, top_k: 5 }, 'http://gw');
    expect(py).toContain('OpenAI(base_url="http://gw/v1"');
    expect(py).toContain('extra_body=extra or None');
    expect(py).toContain('delta.content');
  });
});

describe('figures', () => {
  it('percentiles by nearest rank and colours from red to green', () => {
    expect(percentile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(percentile([], 0.5)).toBeNull();
    expect(probabilityColour(0)).toBe('hsl(0 70% 85%)');
    expect(probabilityColour(1)).toBe('hsl(120 70% 85%)');
  });
});

import { requestMessages } from '../../hooks/chatTurn';

describe('a conversation with tool calls', () => {
  it('sends an answer that called tools with its calls, and a tool result with its call id', () => {
    const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };
    const sent = requestMessages([
      { key: 'a', role: 'user', content: 'weather?' },
      { key: 'b', role: 'assistant', content: '', metrics: { inspect: { tool_calls: [call] } } },
      { key: 'c', role: 'tool', content: 'rain', metrics: { tool_call_id: 'call_1' } },
    ]);
    expect(sent).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: 'call_1', content: 'rain' },
    ]);
  });
});
