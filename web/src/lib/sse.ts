// Server-Sent Events parser (WHATWG event-stream format), fed with arbitrary chunks.

export interface SSEEvent {
  /** `event:` field, "message" when absent. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  id?: string;
  retry?: number;
}

/**
 * Incremental parser. Chunks may be split anywhere (inside a line, between CR and LF).
 * Comment lines (":...") are ignored; an event is dispatched on a blank line.
 */
export class SSEParser {
  private buffer = '';
  private pendingCR = false;
  private dataLines: string[] = [];
  private hasData = false;
  private eventName = '';
  private lastId: string | undefined;
  private retry: number | undefined;

  /** Feed decoded text; returns the events completed by it. */
  feed(chunk: string): SSEEvent[] {
    const out: SSEEvent[] = [];
    let text = chunk;
    if (this.pendingCR) {
      // A CR ended the previous chunk: a leading LF belongs to that line break.
      if (text.startsWith('\n')) text = text.slice(1);
      this.pendingCR = false;
    }
    this.buffer += text;
    let start = 0;
    const buf = this.buffer;
    for (let i = 0; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      if (ch !== 10 && ch !== 13) continue;
      const line = buf.slice(start, i);
      if (ch === 13) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
      const ev = this.processLine(line);
      if (ev) out.push(ev);
    }
    this.buffer = buf.slice(start);
    return out;
  }

  /** End of stream: dispatch a final event that lacked its blank line (lenient). */
  flush(): SSEEvent[] {
    const out: SSEEvent[] = [];
    if (this.buffer) {
      const ev = this.processLine(this.buffer);
      this.buffer = '';
      if (ev) out.push(ev);
    }
    const ev = this.dispatch();
    if (ev) out.push(ev);
    this.pendingCR = false;
    return out;
  }

  private processLine(line: string): SSEEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }

  private dispatch(): SSEEvent | null {
    if (!this.hasData) {
      this.eventName = '';
      return null;
    }
    const ev: SSEEvent = { event: this.eventName || 'message', data: this.dataLines.join('\n') };
    if (this.lastId !== undefined) ev.id = this.lastId;
    if (this.retry !== undefined) ev.retry = this.retry;
    this.dataLines = [];
    this.hasData = false;
    this.eventName = '';
    return ev;
  }
}

/** Parse a complete SSE text at once (tests, small bodies). */
export function parseSSE(text: string): SSEEvent[] {
  const p = new SSEParser();
  return [...p.feed(text), ...p.flush()];
}

/** Read a byte stream as SSE events; multi-byte characters split across chunks are decoded correctly. */
export async function* readSSE(body: ReadableStream<Uint8Array>): AsyncGenerator<SSEEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SSEParser();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      if (value && value.byteLength) {
        for (const ev of parser.feed(decoder.decode(value, { stream: true }))) yield ev;
      }
    }
    const tail = decoder.decode();
    if (tail) for (const ev of parser.feed(tail)) yield ev;
    for (const ev of parser.flush()) yield ev;
  } finally {
    // Consumer stopped early (or an error): close the connection instead of leaking it.
    if (!finished) reader.cancel().catch(() => undefined);
    else {
      try {
        reader.releaseLock();
      } catch {
        /* already released */
      }
    }
  }
}
