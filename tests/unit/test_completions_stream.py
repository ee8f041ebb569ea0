"""Pure logic of the completions proxy: SSE framing, what is forwarded, what is measured."""

import json
from typing import Any

import pytest

from cortex_contracts.events.models import Upstream
from cortex_gateway.auth.principal import Principal
from cortex_gateway.completions.errors import CompletionError, upstream_error
from cortex_gateway.completions.meter import Meter, compute_metrics, percentile
from cortex_gateway.completions.request import parse_body, upstream_body
from cortex_gateway.completions.run import CompletionRun
from cortex_gateway.completions.sse import (
    ContentFrame,
    EventSplitter,
    data_of,
    plain_content_delta,
)
from cortex_gateway.models.catalog import constraints_of, derived_max_tokens
from cortex_gateway.models.engine import api_root, estimate_messages

pytestmark = pytest.mark.unit

USER = Principal(user_id="u1", username="u", role="user", org_id="o1", via="api_key")
UPSTREAM = Upstream(served_model_name="m", base_url="http://engine:8000", engine_type="vllm")


def chunk(**fields: Any) -> bytes:
    return b"data: " + json.dumps(fields, separators=(",", ":")).encode() + b"\n\n"


def delta(**fields: Any) -> bytes:
    return chunk(id="c1", choices=[{"index": 0, "delta": fields, "finish_reason": None}])


def run_for(**body: Any) -> CompletionRun:
    client = parse_body({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})
    return CompletionRun(principal=USER, client=client, upstream=UPSTREAM, received=0.0)


# --- framing ---------------------------------------------------------------------------------
def test_events_split_across_reads_and_packed_in_one_read() -> None:
    splitter = EventSplitter()
    one, two = delta(content="a"), delta(content="b")

    assert splitter.feed(one[:7]) == []
    assert splitter.feed(one[7:] + two[:3]) == [one]
    assert splitter.feed(two[3:] + b"data: [DONE]\n\n") == [two, b"data: [DONE]\n\n"]
    assert splitter.pending == b""


def test_crlf_line_endings_even_when_split_between_cr_and_lf() -> None:
    splitter = EventSplitter()

    assert splitter.feed(b'data: {"x":1}\r\n\r') == []
    assert splitter.feed(b'\ndata: {"x":2}\r\n\r\n') == [b'data: {"x":1}\n\n', b'data: {"x":2}\n\n']


def test_data_of_multi_line_and_named_events() -> None:
    assert data_of(b'data: {"a":1}\n\n') == b'{"a":1}'
    assert data_of(b"event: error\ndata: {\ndata: }\n\n") == b"{\n}"
    assert data_of(b": keep-alive\n\n") is None


# --- forwarding ------------------------------------------------------------------------------
def test_chunks_are_forwarded_byte_for_byte() -> None:
    run = run_for(stream=True)
    role = chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}])
    odd_spacing = b'data: {"choices": [{"delta": {"content": "Hi"}, "index": 0}]}\n\n'

    assert run.feed(role, 1.0) == role
    assert run.feed(odd_spacing, 1.1) == odd_spacing
    assert run.text == "Hi"


def test_done_is_held_back_for_the_gateways_own_end() -> None:
    run = run_for(stream=True)

    assert run.feed(delta(content="x") + b"data: [DONE]\n\n", 1.0) == delta(content="x")
    assert run.saw_done


def test_usage_chunk_reaches_only_clients_that_asked() -> None:
    usage = chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 2})
    quiet, asked = (
        run_for(stream=True),
        run_for(stream=True, stream_options={"include_usage": True}),
    )

    assert quiet.feed(usage, 1.0) == b""
    assert asked.feed(usage, 1.0) == usage
    assert quiet.usage == asked.usage == {"prompt_tokens": 5, "completion_tokens": 2}


def test_usage_riding_on_a_chunk_with_choices_is_kept() -> None:
    run = run_for(stream=True)
    last = chunk(
        choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 1, "completion_tokens": 1},
        timings={"predicted_n": 1},
    )

    assert run.feed(last, 1.0) == last
    assert run.finish_reason == "stop"


def test_role_only_and_empty_deltas_are_not_tokens() -> None:
    run = run_for(stream=True)
    run.feed(chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": None}}]), 1.0)
    run.feed(delta(content=""), 1.5)
    run.feed(delta(), 1.7)

    assert run.meter.first_token is None
    run.feed(delta(content="tok"), 2.0)
    assert run.meter.first_token == 2.0


def test_reasoning_deltas_count_as_generated_tokens() -> None:
    run = run_for(stream=True)
    run.feed(delta(reasoning_content="thinking"), 1.0)
    run.feed(delta(content="answer"), 2.0)

    assert run.meter.token_chunks == 2
    assert run.reasoning == ["thinking"]
    assert run.text == "answer"


def test_an_upstream_error_event_is_passed_on_and_ends_in_error() -> None:
    run = run_for(stream=True)
    error = chunk(error={"message": "CUDA out of memory", "code": 500})

    assert run.feed(error, 1.0) == error
    run.end(2.0)
    assert run.status == "error" and run.error == "CUDA out of memory"


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ([delta(content="a"), b"data: [DONE]\n\n"], "complete"),
        ([delta(content="a")], "error"),  # cut without finish_reason or [DONE]
    ],
)
def test_how_a_stream_ended(events: list[bytes], status: str) -> None:
    run = run_for(stream=True)
    for event in events:
        run.feed(event, 1.0)
    run.end(2.0)
    assert run.status == status


def test_stop_and_departure_win_over_what_the_upstream_did() -> None:
    stopped, gone = run_for(stream=True), run_for(stream=True)
    stopped.stop_requested = True
    gone.client_gone = True
    stopped.end(1.0)
    gone.end(1.0)
    assert (stopped.status, gone.status) == ("stopped", "abandoned")


# --- measuring -------------------------------------------------------------------------------
def test_metrics_follow_the_definitions() -> None:
    meter = Meter(received=10.0)
    for at in (10.5, 10.6, 10.7, 10.9):  # first token 0.5 s after the request
        meter.token(at)

    metrics = compute_metrics(
        meter,
        ended=11.0,
        status="complete",
        error=None,
        finish_reason="stop",
        prompt_tokens=7,
        completion_tokens=4,
        model="m",
    )

    assert metrics["ttft_ms"] == 500.0
    assert metrics["decode_tokens_per_s"] == pytest.approx(3 / 0.4, abs=0.01)
    assert metrics["e2e_tokens_per_s"] == 4.0
    assert metrics["latency_ms"] == 1000.0
    assert metrics["itl_p50_ms"] == 100.0
    assert metrics["itl_p95_ms"] == pytest.approx(190.0)
    assert metrics["total_tokens"] == 11


def test_inter_token_latency_is_per_token_when_chunks_hold_several() -> None:
    meter = Meter(received=0.0)
    for at in (1.0, 1.3, 1.6):  # 3 chunks of 3 tokens, 0.3 s apart
        meter.token(at)

    metrics = compute_metrics(
        meter,
        ended=1.6,
        status="complete",
        error=None,
        finish_reason="stop",
        prompt_tokens=0,
        completion_tokens=9,
        model="m",
    )
    assert metrics["itl_p50_ms"] == 100.0


def test_no_token_no_speed() -> None:
    metrics = compute_metrics(
        Meter(received=0.0),
        ended=1.0,
        status="error",
        error="boom",
        finish_reason=None,
        prompt_tokens=0,
        completion_tokens=0,
        model="m",
    )
    assert metrics["ttft_ms"] is None
    assert metrics["decode_tokens_per_s"] is None
    assert metrics["itl_p50_ms"] is None


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.95) == 5.0


# --- requests and errors ---------------------------------------------------------------------
def test_upstream_body_fills_defaults_and_always_asks_for_usage() -> None:
    upstream = UPSTREAM.model_copy(
        update={"request_defaults": {"temperature": 0.2, "max_tokens": 64, "stream": False}}
    )
    client = parse_body(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True,
         "max_tokens": 10, "stream_options": {"continuous_usage_stats": True}}
    )  # fmt: skip

    sent = json.loads(upstream_body(client, upstream))

    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 10  # the client's own value wins
    assert sent["stream"] is True
    assert sent["stream_options"] == {"continuous_usage_stats": True, "include_usage": True}
    assert client.wants_usage is False


def test_whole_answers_do_not_get_stream_options() -> None:
    client = parse_body({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert "stream_options" not in json.loads(upstream_body(client, UPSTREAM))


@pytest.mark.parametrize(
    "body",
    [[], {"messages": [{"role": "user"}]}, {"model": "m"}, {"model": "m", "messages": ["x"]},
     {"model": "m", "messages": [{}], "stream": "yes"}],
)  # fmt: skip
def test_malformed_requests_are_refused(body: Any) -> None:
    with pytest.raises(CompletionError) as refused:
        parse_body(body)
    assert refused.value.status == 400


def test_upstream_errors_keep_their_message_but_not_their_auth_failures() -> None:
    passed = upstream_error(400, b'{"error":{"message":"too long","type":"BadRequestError"}}')
    plain = upstream_error(422, b"unprocessable")
    credentials = upstream_error(401, b'{"error":"bad key"}')

    assert (passed.status, passed.message) == (400, "too long")
    assert (plain.status, plain.message) == (422, "unprocessable")
    assert credentials.status == 502 and "credentials" in credentials.message


# --- registry helpers ------------------------------------------------------------------------
def test_constraints_prefer_the_configured_context() -> None:
    configured = UPSTREAM.model_copy(update={"context_size": 4096})

    assert constraints_of(configured, max_model_len=8192)["max_model_len"] == 4096
    discovered = constraints_of(UPSTREAM, max_model_len=32768)
    assert discovered["context_size"] is None
    assert discovered["max_model_len"] == 32768
    assert discovered["max_tokens_default"] == 512
    assert set(discovered) == {
        "served_model_name", "engine_type", "task", "context_size", "max_model_len",
        "max_tokens_default", "request_defaults", "supports_streaming", "supports_system_prompt",
    }  # fmt: skip


def test_derived_max_tokens_fits_small_contexts() -> None:
    assert derived_max_tokens(None) == 512
    assert derived_max_tokens(1024) == 256


def test_api_root_accepts_both_base_url_spellings() -> None:
    with_v1 = UPSTREAM.model_copy(update={"base_url": "http://engine:8000/v1/"})
    assert api_root(with_v1) == api_root(UPSTREAM) == "http://engine:8000"


def test_estimate_is_about_four_characters_per_token() -> None:
    assert estimate_messages([{"role": "user", "content": "x" * 400}]) == 100 + 4 + 3


@pytest.mark.parametrize(
    "text",
    ["plain", " with space", 'a "quoted" word', "back\\slash\\", "line\nbreak", "ünï 😀", "", "\\"],
)
def test_content_read_without_a_full_parse_matches_the_json(text: str) -> None:
    event = delta(content=text)

    assert plain_content_delta(event) == json.loads(event[6:])["choices"][0]["delta"]["content"]


@pytest.mark.parametrize(
    "event",
    [
        delta(reasoning_content="x"),
        chunk(choices=[{"delta": {"content": "x"}, "finish_reason": "stop"}]),
        chunk(choices=[{"delta": {"content": "x"}}], usage={"completion_tokens": 1}),
        chunk(choices=[{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]),
        delta(tool_calls=[{"function": {"arguments": '{"content":"x"}'}}]),
        b'data: {"choices":[{"delta":{"content": "spaced"}}]}\n\n',
    ],
)
def test_chunks_with_more_than_a_content_delta_are_parsed_in_full(event: bytes) -> None:
    assert plain_content_delta(event) is None


FRAMED = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"%b"},"finish_reason":null}]}\n\n'
)
TRICKY_TEXTS = ["plain", 'a "quoted" word', "back\\slash\\", "\\", "line\nbreak", "ünï 😀", "x"]


def test_a_learned_frame_reads_every_chunk_of_a_stream_as_the_full_check_does() -> None:
    frame = ContentFrame()
    stream = [delta(role="assistant", content=""), *(delta(content=t) for t in TRICKY_TEXTS)]
    # The same texts once more in another frame (a server that stamps each second anew).
    stream += [
        chunk(id="c1", created=2, choices=[{"index": 0, "delta": {"content": t}}])
        for t in TRICKY_TEXTS
    ]
    stream.append(delta(content="x", tool_calls=[]))

    assert [frame.text(event) for event in stream] == [plain_content_delta(e) for e in stream]


@pytest.mark.parametrize(
    "event",
    [
        # Malformed, but framed like the learned chunks around what could be the text.
        FRAMED % b"a\\",
        FRAMED % b"\xff",
        FRAMED % b"},",
    ],
)
def test_a_learned_frame_reads_malformed_chunks_as_the_full_check_does(event: bytes) -> None:
    frame = ContentFrame()
    assert frame.text(delta(content="learned")) == "learned"

    assert frame.text(event) == plain_content_delta(event)
