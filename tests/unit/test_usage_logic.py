"""Pure logic of the usage service: event → row, cursors, query validation."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from nats.aio.msg import Msg
from pydantic import ValidationError

from cortex_contracts.envelope import Actor
from cortex_contracts.events.usage import CompletionRecorded
from cortex_contracts.messages.usage import UsageQuery
from cortex_runtime.pull import stream_sequence
from cortex_usage.queries import BadCursor, decode_cursor, encode_cursor
from cortex_usage.recorder import MAX_ERROR_CHARS, UnreadableEvent, read_row

pytestmark = pytest.mark.unit


def event(**fields: object) -> CompletionRecorded:
    values: dict[str, object] = {
        "aggregate_id": "c1",
        "actor": Actor(user_id="u1", org_id="o1"),
        "model": "m",
        "engine_type": "vllm",
        "source": "api",
        "stream": False,
        "status": "complete",
        "latency_ms": 10.0,
        **fields,
    }
    return CompletionRecorded(**values)  # type: ignore[arg-type]


def test_a_row_keeps_every_field_of_the_event() -> None:
    source = event(prompt_tokens=3, completion_tokens=4, total_tokens=7, ttft_ms=1.5)

    row = read_row(source.to_bytes(), 42)

    assert row["event_id"] == str(source.event_id)
    assert row["completion_id"] == "c1"
    assert (row["user_id"], row["org_id"]) == ("u1", "o1")
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (3, 4, 7)
    assert (row["ttft_ms"], row["latency_ms"], row["stream_seq"]) == (1.5, 10.0, 42)


def test_times_are_stored_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    row = read_row(event(occurred_at=datetime(2030, 1, 1, 12, tzinfo=paris)).to_bytes(), 1)

    assert row["occurred_at"] == "2030-01-01T11:00:00+00:00"


def test_nul_characters_are_dropped_and_huge_errors_shortened() -> None:
    row = read_row(event(status="error", error="a\x00b" + "x" * 10_000).to_bytes(), 1)

    assert row["error"].startswith("abx")
    assert len(row["error"]) == MAX_ERROR_CHARS


def test_measurements_that_are_not_numbers_are_no_measurement() -> None:
    data = event().to_bytes().replace(b'"latency_ms":10.0', b'"latency_ms":10.0,"ttft_ms":NaN')

    assert read_row(data, 1)["ttft_ms"] is None
    with pytest.raises(UnreadableEvent):
        read_row(event().to_bytes().replace(b'"latency_ms":10.0', b'"latency_ms":Infinity'), 1)


@pytest.mark.parametrize(
    "data", [b"", b"{}", b"not json", b'{"type": "usage.completion.recorded"}', b"[1, 2]"]
)
def test_anything_else_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableEvent):
        read_row(data, 1)


def test_a_cursor_comes_back_as_it_went() -> None:
    moment, event_id = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), uuid.uuid4()

    assert decode_cursor(encode_cursor(moment, event_id)) == (moment, event_id)


@pytest.mark.parametrize("cursor", ["", "x", "bm9wZQ", "MjAzMHxub3QtYS11dWlk", "💥"])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


def test_a_query_range_must_go_forward() -> None:
    with pytest.raises(ValidationError, match="start must be before end"):
        UsageQuery(start=datetime(2030, 1, 2), end=datetime(2030, 1, 1))


def test_naive_query_times_are_utc() -> None:
    query = UsageQuery(start=datetime(2030, 1, 1))

    assert query.start == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("start", ["-58800", "1735689600", "2026-01-31"])
def test_a_query_time_is_a_date_and_a_time_not_a_timestamp(start: str) -> None:
    with pytest.raises(ValidationError, match="ISO 8601 date and time"):
        UsageQuery.model_validate({"start": start})


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ({"start": "0574-02-24T12:55:37Z"}, "must be between 1970-01-01 and 2200-01-01"),
        ({"end": "3613-02-28T03:33:38Z"}, "must be between 1970-01-01 and 2200-01-01"),
        (
            {"start": "2030-01-01T00:00:00Z", "end": "2032-01-01T00:00:00Z", "group_by": "hour"},
            "a per-hour answer spans at most 366 days",
        ),
        ({"model": "\x00x"}, "NUL"),
    ],
)
def test_queries_that_would_hog_or_fail_the_usage_store_are_refused(
    query: dict[str, str], refusal: str
) -> None:
    with pytest.raises(ValidationError, match=refusal):
        UsageQuery.model_validate(query)


def test_empty_filters_of_a_form_mean_no_filter() -> None:
    query = UsageQuery.model_validate({"model": "", "start": "", "group_by": "", "cursor": ""})

    assert (query.model, query.start, query.group_by, query.cursor) == (None, None, None, None)


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.USAGE.usage-recorder.1.4711.42.1732428000000000000.7",
        "$JS.ACK.hub.ACCHASH.USAGE.usage-recorder.2.4711.42.1732428000000000000.7.abc",
        "$JS.ACK.hub.ACCHASH.USAGE.usage-recorder.2.4711.42.1732428000000000000.7",
    ],
)
def test_the_stream_sequence_is_read_as_nats_reads_it(reply: str) -> None:
    msg = Msg(_client=None, subject="u", reply=reply, data=b"")

    assert stream_sequence(msg) == msg.metadata.sequence.stream == 4711
