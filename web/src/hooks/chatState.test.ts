import { describe, expect, it } from 'vitest';
import { ApiError } from '../lib/api';
import type { MetricsSnapshot } from '../lib/metrics';
import type { ModelConstraints, Session } from '../lib/types';
import { chatReducer, DEFAULT_SETTINGS, initialChatState, type ChatAction, type ChatState } from './chatState';
import { emptyTurnResult, turnEnded } from './chatTurn';

const live: MetricsSnapshot = {
  ttftMs: 20,
  tokens: 3,
  tokensEstimated: true,
  tokensPerSecond: 50,
  elapsedMs: 100,
  done: false,
};

const run = (actions: ChatAction[], state: ChatState = initialChatState('m')) => actions.reduce(chatReducer, state);

const constraints: ModelConstraints = {
  served_model_name: 'm',
  engine_type: 'vllm',
  task: 'generate',
  context_size: null,
  max_model_len: 4096,
  max_tokens_default: 256,
  request_defaults: { temperature: 0.1 },
  supports_streaming: true,
  supports_system_prompt: true,
};

const session: Session = {
  id: 's1',
  title: 'Greetings',
  model_name: 'other-model',
  messages: [
    { id: 1, session_id: 's1', role: 'system', content: 'Be brief.', metrics_json: null, created_at: '' },
    { id: 2, session_id: 's1', role: 'user', content: 'hi', metrics_json: null, created_at: '' },
    { id: 3, session_id: 's1', role: 'assistant', content: 'hello', metrics_json: null, created_at: '' },
  ],
} as unknown as Session;

describe('chat reducer', () => {
  it('starts a turn: the question shows, the answer streams in, errors clear', () => {
    const s = run([
      { type: 'errorChanged', error: 'old error' },
      { type: 'turnStarted', userItem: { key: 'u', role: 'user', content: 'q' }, assistantKey: 'a', live },
      { type: 'streamed', content: 'Hel', live },
      { type: 'streamed', content: 'Hello', live },
    ]);
    expect(s.isStreaming).toBe(true);
    expect(s.error).toBeNull();
    expect(s.messages.map((m) => m.content)).toEqual(['q']);
    expect(s.streaming).toEqual({ key: 'a', content: 'Hello' });
  });

  it('ends a turn: the answer joins the messages and the streaming one goes away', () => {
    const answer = { key: 'a', role: 'assistant' as const, content: 'Hello' };
    const s = run([
      { type: 'turnStarted', userItem: { key: 'u', role: 'user', content: 'q' }, assistantKey: 'a', live },
      { type: 'streamClosed' },
      { type: 'turnEnded', live: null, answer },
    ]);
    expect(s.isStreaming).toBe(false);
    expect(s.streaming).toBeNull();
    expect(s.messages.map((m) => m.content)).toEqual(['q', 'Hello']);
  });

  it('ignores stream updates once the turn is over (a late animation frame)', () => {
    const s = run([{ type: 'streamed', content: 'late', live }]);
    expect(s.streaming).toBeNull();
    expect(s.live).toBeNull();
  });

  it('puts a failed message back into the box unless the user typed something else', () => {
    expect(run([{ type: 'draftRestored', draft: 'my question' }]).draft).toBe('my question');
    const typed = run([
      { type: 'draftChanged', draft: 'something new' },
      { type: 'draftRestored', draft: 'my question' },
    ]);
    expect(typed.draft).toBe('something new');
  });

  it('opens a saved chat with its model, title and system prompt', () => {
    const s = run([{ type: 'loadStarted', sessionId: 's1' }, { type: 'loaded', session }, { type: 'loadEnded' }]);
    expect(s.sessionId).toBe('s1');
    expect(s.title).toBe('Greetings');
    expect(s.model).toBe('other-model');
    expect(s.settings.systemPrompt).toBe('Be brief.');
    expect(s.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(s.loadingSession).toBe(false);
  });

  it('shows why a chat could not be opened', () => {
    const s = run([{ type: 'loadStarted', sessionId: 'gone' }, { type: 'errorChanged', error: 'no such chat' }, { type: 'loadEnded' }]);
    expect(s.error).toBe('no such chat');
    expect(s.messages).toEqual([]);
  });

  it('a new chat keeps the model and sampling settings but not the system prompt', () => {
    const s = run([
      { type: 'loaded', session },
      { type: 'settingsChanged', settings: { ...DEFAULT_SETTINGS, temperature: 0.3, systemPrompt: 'Be brief.' } },
      { type: 'newChat' },
    ]);
    expect(s.messages).toEqual([]);
    expect(s.title).toBeNull();
    expect(s.model).toBe('other-model');
    expect(s.settings).toEqual({ ...DEFAULT_SETTINGS, temperature: 0.3, systemPrompt: '' });
  });

  it("seeds the settings from the model's constraints, keeping the system prompt", () => {
    const s = run([
      { type: 'settingsChanged', settings: { ...DEFAULT_SETTINGS, systemPrompt: 'keep' } },
      { type: 'constraints', constraints, error: null, seed: true },
    ]);
    expect(s.settings).toEqual({ systemPrompt: 'keep', temperature: 0.1, topP: 1, maxTokens: 256 });
    const failed = run([{ type: 'constraints', constraints: null, error: 'unreachable', seed: true }], s);
    expect(failed.settings).toEqual(s.settings);
    expect(failed.constraintsError).toBe('unreachable');
  });

  it('puts a system prompt saved with a new chat first', () => {
    const s = run([
      { type: 'turnStarted', userItem: { key: 'u', role: 'user', content: 'q' }, assistantKey: 'a', live },
      { type: 'messageAdded', item: { key: 'sys', role: 'system', content: 'Be brief.' }, first: true },
    ]);
    expect(s.messages.map((m) => m.role)).toEqual(['system', 'user']);
  });
});

describe('end of a turn', () => {
  it('keeps a stopped partial answer, marked stopped', () => {
    const action = turnEnded({ ...emptyTurnResult(), content: 'Hal', aborted: true }, 'a', live);
    expect(action).toMatchObject({ type: 'turnEnded', live, answer: { content: 'Hal', localStatus: 'stopped' } });
  });

  it('shows nothing for a stop before the first token', () => {
    expect(turnEnded({ ...emptyTurnResult(), aborted: true }, 'a', live)).toMatchObject({ answer: null });
  });

  it('explains a failure before any content and adds no answer', () => {
    const action = turnEnded({ ...emptyTurnResult(), failure: new ApiError('busy', 503) }, 'a', live);
    expect(action).toEqual({ type: 'turnEnded', live: null, error: 'The model is unavailable (503): busy' });
  });

  it('keeps an answer cut short, marked as an error, and says so', () => {
    const action = turnEnded({ ...emptyTurnResult(), content: 'Half', streamError: 'upstream closed' }, 'a', live);
    expect(action).toMatchObject({
      answer: { content: 'Half', localStatus: 'error' },
      error: 'The answer was cut short: upstream closed',
    });
  });

  it("shows the server's figures instead of the live ones once they are in", () => {
    const serverMetrics = { ttft_ms: 12 } as never;
    const action = turnEnded({ ...emptyTurnResult(), content: 'ok', serverMetrics }, 'a', live);
    expect(action).toMatchObject({ live: null, answer: { content: 'ok', metrics: serverMetrics } });
    expect(turnEnded({ ...emptyTurnResult(), content: 'ok' }, 'a', live)).toMatchObject({ live, error: undefined });
  });
});
