import { useState } from 'react';
import { checkValue, parseJson } from '../../lib/inspect/schema';
import type { ToolCall, ToolSpec } from '../../lib/inspect/types';

interface Props {
  calls: ToolCall[];
  tools: ToolSpec[] | null;
  /** Set on the conversation's last message: the user may answer its calls. */
  onAnswer?: (callId: string, content: string) => void;
}

function verdictOf(call: ToolCall, tools: ToolSpec[] | null): { ok: boolean; text: string } {
  const parsed = parseJson(call.function.arguments || '');
  if (!parsed.ok) return { ok: false, text: `arguments are not valid JSON (${parsed.error})` };
  const spec = tools?.find((t) => t.function?.name === call.function.name);
  if (!spec) return { ok: false, text: `no tool named ${call.function.name} is defined` };
  if (!spec.function.parameters) return { ok: true, text: 'valid (the tool declares no parameters)' };
  const v = checkValue(parsed.value, spec.function.parameters);
  return v.ok ? { ok: true, text: 'arguments match the parameter schema' } : { ok: false, text: `${v.path}: ${v.message}` };
}

/** The model's tool calls, parsed and checked against each tool's parameter schema. */
export function ToolCalls({ calls, tools, onAnswer }: Props) {
  const [answers, setAnswers] = useState<Record<string, string>>({});
  return (
    <div className="tool-calls" data-testid="tool-calls">
      {calls.map((call) => {
        const verdict = verdictOf(call, tools);
        const parsed = parseJson(call.function.arguments || '');
        return (
          <div className="tool-call" key={call.id} data-testid="tool-call">
            <div>
              Tool call <code>{call.function.name}</code> <span className="muted">({call.id})</span>{' '}
              <span className={`badge ${verdict.ok ? 'badge-pass' : 'badge-fail'}`} data-testid="tool-call-check">
                {verdict.ok ? 'pass' : 'fail'}
              </span>{' '}
              <span className="muted">{verdict.text}</span>
            </div>
            <pre>{parsed.ok ? JSON.stringify(parsed.value, null, 2) : call.function.arguments}</pre>
            {onAnswer && (
              <form
                className="tool-answer"
                onSubmit={(e) => {
                  e.preventDefault();
                  const text = answers[call.id]?.trim();
                  if (text) onAnswer(call.id, text);
                }}
              >
                <label htmlFor={`tool-answer-${call.id}`}>Answer this call by hand (a tool message)</label>
                <textarea
                  id={`tool-answer-${call.id}`}
                  data-testid="tool-answer"
                  rows={2}
                  value={answers[call.id] ?? ''}
                  onChange={(e) => setAnswers({ ...answers, [call.id]: e.target.value })}
                  placeholder='{"temperature": 21}'
                />
                <button type="submit" className="btn btn-small" data-testid="send-tool-answer">
                  Send tool result
                </button>
              </form>
            )}
          </div>
        );
      })}
    </div>
  );
}

export default ToolCalls;
