"""The header parse `connect` installs into nats-py (cortex_runtime/headers.py) reads every header
block as nats-py's own does: an event's headers, and arbitrary bytes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from cortex_runtime import headers

pytestmark = pytest.mark.unit

NATS_PY = Client.__dict__["_parse_header_lines"].__func__
EVENT = (
    b"Nats-Msg-Id: 0f5b3c9e-1d2a-4a7b-9c1e-5d6f7a8b9c0d\r\n"
    b"Nats-Expected-Last-Subject-Sequence: 12\r\n"
    b"Cortex-Prev-Hash: " + b"a" * 64 + b"\r\nCortex-Hash: " + b"b" * 64 + b"\r\n\r\n"
)
PIECES = st.sampled_from(
    [b"\r\n", b":", b": ", b" ", b"\t", b"\x0b", b"\x1c", b"\x85", b"\xc2\x85", b"\xff", b"Name"]
)


def test_an_events_headers_read_as_nats_py_reads_them() -> None:
    assert headers.parse_header_lines(EVENT) == NATS_PY(EVENT)
    assert headers.parse_header_lines(EVENT)["Cortex-Hash"] == "b" * 64


@settings(max_examples=2000)
@given(st.lists(st.one_of(PIECES, st.binary(max_size=8)), max_size=24).map(b"".join))
def test_any_bytes_read_as_nats_py_reads_them(raw: bytes) -> None:
    assert headers.parse_header_lines(raw) == NATS_PY(raw)


def test_connect_installs_it() -> None:
    headers.install()
    assert Client._parse_header_lines(EVENT) == NATS_PY(EVENT)
    assert Client.__dict__["_parse_header_lines"].__func__ is headers.parse_header_lines
