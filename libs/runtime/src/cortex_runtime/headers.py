"""A faster parse of NATS message headers, installed into nats-py by `connect`. Hand-written on
purpose, and fenced here.

Why: nats-py (2.16) parses every message's header block in Python and checks each header name
for whitespace one character at a time (`any(c.isspace() for c in key)`). With the headers every
event carries (message id, expected sequence, the hash chain's two hashes) that check is most of
the parse, on the hot path of every consumer, replay and verify
(cProfile of a verify: nearly a quarter of its time). `str.split()` splits on exactly the
characters `str.isspace()` is true of, so `key.split() != [key]` is the same test, in C:
6.3 µs -> 2.7 µs per event's header block (`python -m bench headers`, docs/benchmarks.md).

Same answers for every input (tests/unit/test_nats_headers.py checks it against nats-py's own
on arbitrary bytes); if nats-py changes the method's name or signature, `install` leaves it be.
"""

import inspect
import logging

from nats.aio.client import Client

log = logging.getLogger(__name__)

_CRLF = b"\r\n"


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """`Name: Value` per line, as nats-py's `Client._parse_header_lines` reads them."""
    out: dict[str, str] = {}
    for line in raw.split(_CRLF):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if key and key.split() != [key]:  # a name holding whitespace is not a header
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


def install() -> None:
    original = Client.__dict__.get("_parse_header_lines")
    if original is None or not isinstance(original, staticmethod):
        log.warning("nats-py has no static _parse_header_lines: its own header parse is used")
        return
    if list(inspect.signature(original.__func__).parameters) != ["raw"]:
        return
    Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]
