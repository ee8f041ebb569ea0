"""Server-sent events: splitting an upstream byte stream into events without re-encoding them."""

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
