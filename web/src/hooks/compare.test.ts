import { describe, expect, it } from 'vitest';
import type { Pane } from '../lib/compare-api';
import { setupBody, setupProblem, type Setup } from './compareSetup';
import { answered, PaneMetrics, paneRequest, paneSampling } from './compareTurn';
import { prefillFrom } from './useComparePrefill';

const pane = (messages: { role: 'user' | 'assistant' | 'system'; content: string }[]): Pane => ({
  index: 0,
  label: 'Model A',
  session_id: 's',
  model_name: 'm',
  engine_type: 'vllm',
  sampling: {},
  messages: messages.map((m, i) => ({ ...m, id: i + 1, session_id: 's', created_at: '2026-01-01T00:00:00Z' })),
});

describe('a pane of a comparison', () => {
  it('sends its own history, then the prompt', () => {
    const p = pane([
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ]);
    expect(paneRequest(p, 'and?')).toEqual([
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'and?' },
    ]);
  });

  it('is answered once its session has the turn and an assistant message last', () => {
    const p = pane([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ]);
    expect(answered(p, 1)).toBe(true);
    expect(answered(p, 2)).toBe(false);
  });

  it('takes pane A settings for every pane when they are shared', () => {
    const settings = [{ temperature: 0.1 }, { temperature: 0.9 }];
    expect(paneSampling(settings, 1, true)).toEqual({ temperature: 0.1 });
    expect(paneSampling(settings, 1, false)).toEqual({ temperature: 0.9 });
  });

  it('measures the inter-token latency as the mean gap between chunks', () => {
    const m = new PaneMetrics(() => 0);
    m.start(0);
    m.onDelta('a', 100);
    m.onDelta('b', 130);
    m.onDelta('c', 170);
    expect(m.itlMs).toBe(35);
    expect(m.snapshot(170).ttftMs).toBe(100);
  });
});

describe('a new comparison', () => {
  const setup: Setup = { models: ['a', 'b'], blind: true, systemPrompt: ' ', messages: [], fromSession: null };

  it('becomes the body the API takes, titled by its first prompt', () => {
    const body = setupBody(setup, [{ temperature: 0.2 }, { temperature: 1 }], true, 'Tell me about caching');
    expect(body.title).toBe('Tell me about caching');
    expect(body.blind).toBe(true);
    expect(body.system_prompt).toBeNull();
    expect(body.panes).toEqual([
      { model_name: 'a', sampling: { temperature: 0.2 } },
      { model_name: 'b', sampling: { temperature: 0.2 } },
    ]);
  });

  it('needs a model in every pane', () => {
    expect(setupProblem(setup)).toBeNull();
    expect(setupProblem({ ...setup, models: ['a', ''] })).toMatch(/every pane/);
    expect(setupProblem({ ...setup, models: ['a'] })).toMatch(/at least 2/);
  });
});

describe('the prefill from a chat', () => {
  const session = {
    id: 'chat-1',
    model_name: 'llama',
    messages: [
      { id: 1, role: 'system', content: 'Be brief' },
      { id: 2, role: 'user', content: 'one' },
      { id: 3, role: 'assistant', content: 'two' },
      { id: 4, role: 'user', content: 'three' },
      { id: 5, role: 'assistant', content: 'four' },
    ],
  };

  it('keeps the conversation up to the message, its system prompt and its model', () => {
    const p = prefillFrom(session, 3);
    expect(p).toEqual({
      fromSession: 'chat-1',
      model: 'llama',
      systemPrompt: 'Be brief',
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
      ],
      draft: '',
    });
  });

  it("makes a user's message the prompt to send", () => {
    const p = prefillFrom(session, 4);
    expect(p.draft).toBe('three');
    expect(p.messages).toHaveLength(2);
  });
});
