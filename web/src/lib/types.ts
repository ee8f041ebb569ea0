// Shapes of the gateway's HTTP API, from its OpenAPI document (`make schemas` writes api.gen.ts):
// a field renamed or retyped in the gateway breaks `npm run build` here, not the UI at run time.
import type { components } from './api.gen';

type Schemas = components['schemas'];

export type Role = Schemas['MessageView']['role'];
export type User = Schemas['UserView'];
export type RunningModel = Schemas['RunningModel'];
export type ModelConstraints = Schemas['ModelConstraints'];
export type TokenizeResult = Schemas['TokenizeAnswer'];

export type MetricsStatus = 'complete' | 'stopped' | 'abandoned' | 'error';

/** Server-measured figures of one completion (also the assistant message's metrics_json, which
 * the API types as a free-form object: the SSE metrics event and the chat store write it). */
export interface ServerMetrics {
  status?: MetricsStatus | string;
  error?: string | null;
  finish_reason?: string | null;
  ttft_ms?: number | null;
  decode_tokens_per_s?: number | null;
  e2e_tokens_per_s?: number | null;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  itl_p50_ms?: number | null;
  itl_p95_ms?: number | null;
  latency_ms?: number | null;
  model?: string | null;
  /** The inspector's record of the exchange (lib/inspect/types.ts `InspectRecord`). */
  inspect?: unknown;
  /** On a `tool` message: the tool call it answers. */
  tool_call_id?: string;
}

export type Message = Omit<Schemas['MessageView'], 'metrics_json'> & {
  /** Object, or a JSON string from some back ends; read it with parseMetrics(). */
  metrics_json?: ServerMetrics | string | null;
};

export type SessionSummary = Schemas['SessionSummary'];

export type Session = Omit<Schemas['SessionView'], 'constraints_json' | 'messages'> & {
  constraints_json?: ModelConstraints | string | null;
  messages: Message[];
};

export type SessionPage = Schemas['SessionPage'];

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/** A health check of a model server (the latest one also has `max_model_len`). */
export type Health = Schemas['HealthCheckInfo'];
export type Upstream = Schemas['UpstreamWithHealth'];
export type Org = Schemas['OrgView'];
export type ApiKeyInfo = Schemas['KeyView'];
export type NewApiKey = Schemas['CreatedKey'];
export type UsageRecord = Schemas['UsageRecordView'];
/** `label`: display name of the key (username, org name) when the gateway knows it. */
export type UsageGroup = Schemas['UsageGroupView'];

/** Parse a *_json field that may arrive as an object or as a JSON string. */
export function parseJsonField<T>(value: T | string | null | undefined): T | null {
  if (value == null) return null;
  if (typeof value === 'string') {
    if (!value.trim()) return null;
    try {
      return JSON.parse(value) as T;
    } catch {
      return null;
    }
  }
  return value;
}

export function parseMetrics(value: ServerMetrics | string | null | undefined): ServerMetrics | null {
  const m = parseJsonField<ServerMetrics>(value);
  return m && typeof m === 'object' ? m : null;
}
