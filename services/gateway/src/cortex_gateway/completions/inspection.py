"""What the inspector shows of a playground completion, kept with the assistant's message.

Collected while the completion runs (cheaply: the first and last chunk are references to bytes
the relay has anyway; logprobs and tool calls come from chunks that are parsed in full anyway),
and written once, as `metrics_json["inspect"]` of the recorded answer (event-sourced with the
message). A record is at most `INSPECT_MAX_BYTES` of JSON: what does not fit is cut in this
order — a request over `REQUEST_SHARE_BYTES` keeps only its last message, then logprobs are cut
from the end, then the chunks and the request go — and listed in `truncated`.
"""

import json
from typing import Any

INSPECT_MAX_BYTES = 64 * 1024
REQUEST_SHARE_BYTES = 24 * 1024  # a longer conversation keeps its last message only
MAX_LOGPROB_TOKENS = 4096  # kept while streaming; the byte cap then decides what is stored
CHUNK_MAX_CHARS = 4096
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"}
)
NOT_PARAMS = frozenset({"messages", "tools", "response_format"})


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as sent, with every credential replaced (its scheme kept)."""
    out = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] + " " if " " in value else ""
            out[name] = scheme + "***"
        else:
            out[name] = value
    return out


class ToolCallAssembler:
    """Streamed `tool_calls` deltas joined as the OpenAI SDK joins them: keyed by `index`,
    string fields (id, name, arguments) concatenated, `type` replaced. An id or name repeated
    whole in every delta (llama-cpp-python's server does so) is kept once."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            return
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", position)
            if not isinstance(index, int):
                continue
            call = self._calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            _merge(call, _without_repeats(call, delta))

    def whole(self, calls: Any) -> None:
        """The `tool_calls` of a whole (not streamed) message."""
        if isinstance(calls, list):
            self.add([{**c, "index": i} for i, c in enumerate(calls) if isinstance(c, dict)])

    def result(self) -> list[dict[str, Any]]:
        return [self._calls[i] for i in sorted(self._calls)]


def _without_repeats(call: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in delta.items() if not (k == "id" and call["id"] and v == call["id"])}
    function = delta.get("function")
    name = call["function"].get("name")
    if isinstance(function, dict) and name and function.get("name") == name:
        kept["function"] = {k: v for k, v in function.items() if k != "name"}
    return kept


def _merge(into: dict[str, Any], delta: dict[str, Any]) -> None:
    for key, value in delta.items():
        if key == "index":
            continue
        current = into.get(key)
        if isinstance(value, dict):
            into[key] = current if isinstance(current, dict) else {}
            _merge(into[key], value)
        elif isinstance(value, str) and isinstance(current, str) and key != "type":
            into[key] = current + value
        elif value is not None:
            into[key] = value


class Inspection:
    """Collects one completion's exchange as it happens (see the module's docstring)."""

    def __init__(self) -> None:
        self.request: dict[str, Any] | None = None
        self.first_chunk: bytes | None = None
        self.last_chunk: bytes | None = None
        self.logprobs: list[Any] = []
        self.logprobs_returned = False
        self.tool_calls = ToolCallAssembler()
        self.system_fingerprint: str | None = None
        self.model_id: str | None = None

    def sent(self, url: str, headers: dict[str, str], body: bytes) -> None:
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode(errors="replace")
        self.request = {"url": url, "headers": masked_headers(headers), "body": parsed}

    def chunk(self, event: bytes) -> None:
        if event.startswith(b"data: [DONE]"):
            return  # the end marker, not a chunk
        if self.first_chunk is None:
            self.first_chunk = event
        self.last_chunk = event

    def observe(self, chunk: dict[str, Any], choice: dict[str, Any] | None) -> None:
        """A chunk parsed in full (or a whole answer: `choice` holds `message`)."""
        fingerprint = chunk.get("system_fingerprint")
        if isinstance(fingerprint, str):
            self.system_fingerprint = fingerprint
        model = chunk.get("model")
        if isinstance(model, str):
            self.model_id = model
        if choice is None:
            return
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            self.logprobs_returned = True
            content = logprobs.get("content")
            if isinstance(content, list) and len(self.logprobs) < MAX_LOGPROB_TOKENS:
                self.logprobs.extend(content[: MAX_LOGPROB_TOKENS - len(self.logprobs)])
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self.tool_calls.add(delta.get("tool_calls"))
        message = choice.get("message")
        if isinstance(message, dict):
            self.tool_calls.whole(message.get("tool_calls"))

    def record(
        self, *, head: tuple[int, dict[str, str]] | None, usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The stored record, within INSPECT_MAX_BYTES."""
        body = self.request["body"] if self.request else None
        asked = isinstance(body, dict) and bool(body.get("logprobs"))
        record: dict[str, Any] = {
            "request": self.request,
            "response": None if head is None else {"status": head[0], "headers": head[1]},
            "first_chunk": _text(self.first_chunk),
            "last_chunk": _text(self.last_chunk),
            "usage": usage,
            "params": _params(body),
            "system_fingerprint": self.system_fingerprint,
            "model_id": self.model_id,
            "logprobs": {
                "requested": asked,
                "returned": self.logprobs_returned,
                "content": self.logprobs,
            },
            "tool_calls": self.tool_calls.result(),
            "cap_bytes": INSPECT_MAX_BYTES,
            "truncated": [],
        }
        return bounded(record)


def _text(chunk: bytes | None) -> str | None:
    if chunk is None:
        return None
    return chunk.decode(errors="replace").strip()[:CHUNK_MAX_CHARS]


def _params(body: Any) -> dict[str, Any]:
    """The request's parameters (sampling, seed, limits...) without the conversation."""
    if not isinstance(body, dict):
        return {}
    params = {k: v for k, v in body.items() if k not in NOT_PARAMS}
    if isinstance(body.get("tools"), list):
        params["tools"] = [
            (t.get("function") or {}).get("name") for t in body["tools"] if isinstance(t, dict)
        ]
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        params["response_format"] = fmt.get("type")
    return params


def _size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":")).encode())


def bounded(record: dict[str, Any]) -> dict[str, Any]:
    """Cut `record` to INSPECT_MAX_BYTES (see the module's docstring); lists what was cut."""
    if _size(record) <= INSPECT_MAX_BYTES:
        return record
    request: dict[str, Any] = record.get("request") or {}
    body = request.get("body")
    if isinstance(body, dict) and len(json.dumps(body)) > REQUEST_SHARE_BYTES:
        messages = body.get("messages")
        if isinstance(messages, list) and len(messages) > 1:
            request["body"] = {**body, "messages": messages[-1:]}
            record["truncated"].append(f"request: last of {len(messages)} messages kept")
    content = record["logprobs"]["content"]
    if content and _size(record) > INSPECT_MAX_BYTES:
        keep = len(content)
        while keep and _size(record) > INSPECT_MAX_BYTES:
            keep = keep * 3 // 4
            record["logprobs"]["content"] = content[:keep]
        record["truncated"].append(f"logprobs: first {keep} of {len(content)} tokens kept")
    if _size(record) > INSPECT_MAX_BYTES:
        record["first_chunk"] = record["last_chunk"] = None
        record["tool_calls"] = []
        if request:
            request["body"] = None
        record["truncated"].append("request body, chunks and tool calls left out")
    return record
