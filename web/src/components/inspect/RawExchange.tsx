import { useState } from 'react';
import { copyText } from '../../lib/clipboard';
import { curlSnippet, pythonSnippet } from '../../lib/inspect/snippets';
import type { InspectRecord } from '../../lib/inspect/types';

function Block({ title, text, testId }: { title: string; text: string; testId?: string }) {
  return (
    <section className="raw-block">
      <h4>{title}</h4>
      <pre data-testid={testId}>{text}</pre>
    </section>
  );
}

const json = (v: unknown) => JSON.stringify(v, null, 2);
const headerLines = (h: Record<string, string>) =>
  Object.entries(h)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');

/** The exact exchange with the model server, and snippets that send the same request to the gateway. */
export function RawExchange({ record }: { record: InspectRecord | null }) {
  const [copied, setCopied] = useState<string | null>(null);
  if (!record) {
    return (
      <p className="muted inspect-note" data-testid="raw-unavailable">
        No exchange was recorded for this message (answers recorded before the inspector existed, or not sent from
        the playground).
      </p>
    );
  }
  const origin = window.location.origin;
  const body = record.request?.body ?? null;
  const curl = body ? curlSnippet(body, origin) : null;
  const python = body ? pythonSnippet(body, origin) : null;
  const copy = (label: string, text: string) =>
    void copyText(text).then((ok) => setCopied(ok ? label : `${label} failed`));
  return (
    <div className="raw-exchange" data-testid="raw-exchange">
      {record.truncated.length > 0 && (
        <p className="banner banner-warn">
          Cut to the stored limit of {Math.round(record.cap_bytes / 1024)} KiB: {record.truncated.join('; ')}.
        </p>
      )}
      {record.request && (
        <Block
          title="Request sent to the model server (secrets masked)"
          testId="raw-request"
          text={`POST ${record.request.url}\n${headerLines(record.request.headers)}\n\n${json(record.request.body)}`}
        />
      )}
      {record.response && (
        <Block
          title="Response head"
          testId="raw-response"
          text={`HTTP ${record.response.status}\n${headerLines(record.response.headers)}`}
        />
      )}
      {record.first_chunk && <Block title="First chunk" text={record.first_chunk} testId="raw-first-chunk" />}
      {record.last_chunk && <Block title="Last chunk" text={record.last_chunk} testId="raw-last-chunk" />}
      <Block title="Usage" text={record.usage ? json(record.usage) : 'not reported'} testId="raw-usage" />
      <Block
        title="Produced with"
        testId="raw-params"
        text={json({
          model_id: record.model_id,
          system_fingerprint: record.system_fingerprint,
          ...record.params,
        })}
      />
      {curl && python && (
        <section className="raw-block">
          <h4>Reproduce against the gateway (set CORTEX_API_KEY to one of your API keys)</h4>
          <div className="raw-actions">
            <button type="button" className="btn btn-small" data-testid="copy-curl" onClick={() => copy('curl', curl)}>
              Copy as curl
            </button>
            <button
              type="button"
              className="btn btn-small"
              data-testid="copy-python"
              onClick={() => copy('Python', python)}
            >
              Copy as Python (openai SDK)
            </button>
            {copied && <span className="muted" role="status">{copied.endsWith('failed') ? `Copy ${copied}` : `Copied ${copied}`}</span>}
          </div>
          <pre data-testid="raw-curl">{curl}</pre>
          <pre data-testid="raw-python">{python}</pre>
        </section>
      )}
    </div>
  );
}

export default RawExchange;
