// Shapes of the gateway's HTTP API (docs/api.md).

export type Role = 'user' | 'assistant' | 'system';

export interface User {
  id: string | number;
  username: string;
  role: 'admin' | 'user';
  org_id: string | number | null;
  org_name: string | null;
  disabled: boolean;
}

export interface RunningModel {
  served_model_name: string;
  engine_type: string;
  task: string;
  state: string;
  max_model_len: number | null;
}

export interface ModelConstraints {
  served_model_name: string;
  engine_type: string;
  task: string;
  context_size: number | null;
  max_model_len: number | null;
  max_tokens_default: number | null;
  request_defaults: Record<string, unknown> | null;
  supports_streaming: boolean;
  supports_system_prompt: boolean;
}

export interface TokenizeResult {
  count: number;
  max_model_len: number | null;
  exact: boolean;
}

export type MetricsStatus = 'complete' | 'stopped' | 'abandoned' | 'error';

/** Server-measured figures of one completion (also the assistant message's metrics_json). */
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
}

export interface Message {
  id: string | number;
  session_id: string;
  role: Role;
  content: string;
  /** Object, or a JSON string from some back ends; read it with parseMetrics(). */
  metrics_json: ServerMetrics | string | null;
  created_at: string;
}

export interface SessionSummary {
  id: string;
  title: string | null;
  model_name: string;
  engine_type: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface Session extends SessionSummary {
  constraints_json: ModelConstraints | string | null;
  messages: Message[];
}

export interface SessionPage {
  sessions: SessionSummary[];
  next_cursor: string | null;
}

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface Health {
  served_model_name: string;
  status: 'healthy' | 'loading' | 'unhealthy' | string;
  latency_ms: number | null;
  last_error: string | null;
  consecutive_failures: number;
  checked_at: string | null;
}

export interface Upstream {
  served_model_name: string;
  base_url: string;
  engine_type: string;
  context_size?: number | null;
  max_tokens_default?: number | null;
  request_defaults?: Record<string, unknown> | null;
  health: Health | null;
  history: Health[];
  [extra: string]: unknown;
}

export interface Org {
  id: string | number;
  name: string;
}

export interface ApiKeyInfo {
  id: string | number;
  prefix: string;
  user_id: string | number;
  username?: string | null;
  name: string | null;
  expires_at: string | null;
  created_at: string;
  revoked_at?: string | null;
  last_used_at?: string | null;
}

export interface NewApiKey extends ApiKeyInfo {
  key: string;
}

export type UsageRecord = Record<string, unknown>;

export interface UsageGroup {
  key: string | null;
  /** Display name of the key (username, org name) when the gateway knows it. */
  label?: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  ttft_p50_ms: number | null;
  ttft_p95_ms: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  error_rate: number | null;
}

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
