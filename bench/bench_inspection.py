"""What the inspector costs the relay's hot path: `CompletionRun.feed` over a 2,000-chunk stream,
an API run (nothing kept) against a playground run (the first and last chunk kept for the raw
exchange), interleaved in the same process so that the machine's load hits both alike."""

import os
import timeit
from collections.abc import Callable

from bench.report import write_section
from cortex_gateway.auth.principal import Principal
from cortex_gateway.completions.request import parse_body
from cortex_gateway.completions.run import CompletionRun

CHUNKS = 2000
ROUNDS = 150
CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}]}'
    b"\n\n"
)


def _stream(session_id: str | None) -> Callable[[], None]:
    client = parse_body({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    principal = Principal("u", "u", "user", "o", "cookie")
    events = [CHUNK % i for i in range(CHUNKS)]

    def run() -> None:
        completion = CompletionRun(principal=principal, client=client, upstream=None, received=0)
        completion.session_id = session_id
        for event in events:
            completion.feed(event, 1.0)

    return run


def main() -> None:
    api, playground = _stream(None), _stream("session")
    api_s: list[float] = []
    playground_s: list[float] = []
    for _ in range(ROUNDS):
        api_s.append(min(timeit.repeat(api, number=1, repeat=5)))
        playground_s.append(min(timeit.repeat(playground, number=1, repeat=5)))
    a, p = min(api_s), min(playground_s)
    body = (
        f"`CompletionRun.feed` over {CHUNKS} content chunks, best of {ROUNDS} interleaved "
        "rounds (the machine is shared: compare the ratio).\n\n"
        "| run | ms per stream | ns per chunk |\n|---|---|---|\n"
        f"| API (nothing kept) | {a * 1e3:.2f} | {a / CHUNKS * 1e9:.0f} |\n"
        f"| playground (first/last chunk kept) | {p * 1e3:.2f} | {p / CHUNKS * 1e9:.0f} |\n\n"
        f"Ratio playground/API: {p / a:.3f}. Load average (1 min): {os.getloadavg()[0]:.1f}."
    )
    write_section("inspection", "python -m bench inspection", body)
    print(body)


if __name__ == "__main__":
    main()
