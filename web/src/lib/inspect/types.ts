// What the gateway keeps with a playground answer (metrics_json.inspect; see the gateway's
// completions/inspection.py) and the inspector's own shapes.
import type { components } from '../api.gen';

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes?: number[] | null;
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs?: TopLogprob[];
}

export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

export interface InspectRecord {
  request: { url: string; headers: Record<string, string>; body: unknown } | null;
  response: { status: number; headers: Record<string, string> } | null;
  first_chunk: string | null;
  last_chunk: string | null;
  usage: Record<string, unknown> | null;
  params: Record<string, unknown>;
  system_fingerprint: string | null;
  model_id: string | null;
  logprobs: { requested: boolean; returned: boolean; content: TokenLogprob[] };
  tool_calls: ToolCall[];
  cap_bytes: number;
  truncated: string[];
}

/** An OpenAI `tools` entry. */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type Preset = components['schemas']['PresetView'];
export type PresetBody = components['schemas']['PresetBody'];
export type BatchReport = components['schemas']['BatchReport'];
export type ChatChecks = components['schemas']['ChecksView'];

export function inspectOf(metrics: unknown): InspectRecord | null {
  if (!metrics || typeof metrics !== 'object') return null;
  const record = (metrics as { inspect?: unknown }).inspect;
  return record && typeof record === 'object' ? (record as InspectRecord) : null;
}
