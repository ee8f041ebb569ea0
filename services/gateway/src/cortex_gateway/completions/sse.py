"""Server-sent events: splitting an upstream byte stream into events without re-encoding them."""

import json

DONE = b"data: [DONE]\n\n"
DONE_PAYLOAD = b"[DONE]"


def sse_event(payload: bytes, name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + payload + b"\n\n"


class EventSplitter:
    """Feed raw bytes as they arrive; get back the complete events (each with its blank line).

    A network read may hold a part of an event or several events. Lines may end with CRLF.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, raw: bytes) -> list[bytes]:
        buffer = self._pending + raw if self._pending else raw
        held = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # maybe the first half of a CRLF: wait for the next read
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            events.append(buffer[start : end + 2])
            start = end + 2
        self._pending = buffer[start:] + held
        return events

    @property
    def pending(self) -> bytes:
        """An unfinished event left when the stream ended."""
        return self._pending


def data_of(event: bytes) -> bytes | None:
    """The data of one event (several `data:` lines joined by newlines); None if it has none."""
    if event.startswith(b"data:") and event.count(b"\n") == 2:  # the usual one-line event
        return event[5:].strip()
    lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[1:] if line.startswith(b" ") else line for line in lines).strip()


CONTENT_KEY = b'"content":"'
BACKSLASH = 0x5C
# Anything else the gateway measures, or an unusual shape: those chunks are parsed in full.
NEEDS_FULL_PARSE = (
    b'"finish_reason":"',
    b'"usage":{',
    b'"error"',
    b'"tool_calls"',
    b"reasoning",
    b'"logprobs":{',  # token probabilities, for the inspector
)


def plain_content_delta(event: bytes) -> str | None:
    """The text of a chunk that carries nothing but a content delta, read without parsing the
    whole JSON (most chunks of a stream); None when the chunk needs a full parse."""
    span = plain_content_span(event)
    return None if span is None else _text(event[span[0] : span[1]])


def plain_content_span(event: bytes) -> tuple[int, int] | None:
    """Where the (still escaped) content string of a plain content chunk lies in `event`.

    Sound because a JSON string value never holds an unescaped quote: the bytes `"content":"`
    can only be the key `content` followed by a string (`"reasoning_content":"` does not match).
    """
    if not event.startswith(b"data: {") or event.count(CONTENT_KEY) != 1:
        return None
    for marker in NEEDS_FULL_PARSE:
        if marker in event:
            return None
    start = event.index(CONTENT_KEY) + len(CONTENT_KEY)
    end = event.find(b'"', start)
    while end > 0 and event[end - 1] == BACKSLASH and _escaped(event, end):
        end = event.find(b'"', end + 1)
    if end < 0:
        return None
    return start, end


class ContentFrame:
    """The bytes around the text of a stream's plain content chunks, learned from one of them.

    A server frames every content chunk of a stream alike (same id, model, created, keys); only
    the text differs. A chunk that starts with the learned prefix, ends with the learned suffix
    and has no quote in between is then a plain content chunk too: read with two comparisons
    instead of the full check of `plain_content_span` (several scans of the chunk). Any other
    chunk takes the full check, and a plain chunk framed differently teaches the new frame.
    """

    __slots__ = ("_framing", "_prefix", "_suffix")

    def __init__(self) -> None:
        self._prefix = b""
        self._suffix = b""
        self._framing = 0  # len(prefix) + len(suffix); 0: nothing learned yet

    def text(self, event: bytes) -> str | None:
        """As `plain_content_delta`, mostly without its full check."""
        framing = self._framing
        if (
            framing
            and len(event) >= framing
            and event.startswith(self._prefix)
            and event.endswith(self._suffix)
        ):
            raw = event[len(self._prefix) : len(event) - len(self._suffix)]
            text = _text(raw) if b'"' not in raw else None
            if text is not None:
                return text
        span = plain_content_span(event)
        if span is None:
            return None
        start, end = span
        if end > start:  # a frame is learned from a chunk with text (not the role chunk)
            self._prefix, self._suffix = event[:start], event[end:]
            self._framing = len(event) - (end - start)
        return _text(event[start:end])


def _text(raw: bytes) -> str | None:
    """The string a JSON string's inside stands for; None if it is not valid JSON."""
    if b"\\" not in raw:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None
    try:
        decoded = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


def _escaped(data: bytes, quote: int) -> bool:
    """Is the quote at `quote` preceded by an odd number of backslashes?"""
    count = 0
    position = quote - 1
    while position >= 0 and data[position] == 0x5C:
        count += 1
        position -= 1
    return count % 2 == 1
