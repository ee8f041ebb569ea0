"""The header parse `connect` installs into nats-py (cortex_runtime/headers.py) against nats-py's
own, on the header block every chained event carries, interleaved in one process."""

import os
import timeit

from nats.aio.client import Client

from bench.report import write_section
from cortex_runtime import headers

ROUNDS = 20
PER_ROUND = 20_000
EVENT_HEADERS = (
    b"Nats-Msg-Id: 0f5b3c9e-1d2a-4a7b-9c1e-5d6f7a8b9c0d\r\n"
    b"Nats-Expected-Last-Subject-Sequence: 123456\r\n"
    b"Cortex-Prev-Hash: " + b"a" * 64 + b"\r\nCortex-Hash: " + b"b" * 64 + b"\r\n\r\n"
)


def main() -> None:
    nats_py = Client.__dict__["_parse_header_lines"].__func__
    if nats_py is headers.parse_header_lines:
        raise SystemExit("nats-py's own parse is already replaced in this process")
    before: list[float] = []
    after: list[float] = []
    for _ in range(ROUNDS):
        before.append(timeit.timeit(lambda: nats_py(EVENT_HEADERS), number=PER_ROUND))
        after.append(
            timeit.timeit(lambda: headers.parse_header_lines(EVENT_HEADERS), number=PER_ROUND)
        )
    b, a = min(before) / PER_ROUND * 1e6, min(after) / PER_ROUND * 1e6
    body = (
        f"One event's header block (message id, expected sequence, the chain's two hashes), "
        f"parsed {PER_ROUND:,} times per round, best of {ROUNDS} interleaved rounds.\n\n"
        "| parse | µs per message |\n|---|---|\n"
        f"| nats-py 2.16 `Client._parse_header_lines` | {b:.2f} |\n"
        f"| cortex_runtime.headers (installed by `connect`) | {a:.2f} |\n\n"
        f"Ratio nats-py / ours: {b / a:.2f}. Load average (1 min): {os.getloadavg()[0]:.1f}."
    )
    write_section("headers", "python -m bench headers", body)
    print(body)


if __name__ == "__main__":
    main()
