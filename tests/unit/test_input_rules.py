"""The rules that refuse bad input at the gateway: storable text and documents (shared with the
sessions projection), the completions body check, and the usage query's bounds."""

import json
from typing import Any

import pytest
from pydantic import ValidationError

from cortex_contracts.messages.usage import UsageQuery
from cortex_contracts.storable import document_problem, storable_text, text_problem
from cortex_gateway.json_body import MAX_BODY_DEPTH, BadJson, parse_json, storable_body_problem

pytestmark = pytest.mark.unit


def nested(depth: int) -> Any:
    """A document whose deepest value sits `depth` levels below the top."""
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("plain", None),
        ("emoji \U0001f600 and é", None),
        ("a\x00b", "NUL"),
        ("a\ud800b", "surrogate"),
        ("\udc00", "surrogate"),
    ],
)
def test_text_that_cannot_be_stored_is_named(text: str, problem: str | None) -> None:
    found = text_problem(text)

    assert found is None if problem is None else problem in (found or "")


def test_a_models_text_is_made_storable() -> None:
    assert storable_text("a\x00b\ud800c \U0001f600") == "ab\ufffdc \U0001f600"
    assert storable_text("fine") == "fine"


def test_documents_deeper_than_the_limit_are_refused_without_recursion() -> None:
    assert document_problem(nested(32)) is None
    assert "nested deeper than 32" in (document_problem(nested(33)) or "")
    assert "nested deeper" in (document_problem(nested(100_000)) or "")  # no RecursionError
    assert "NaN" in (document_problem({"x": [1.0, float("nan")]}) or "")
    assert "NUL" in (document_problem({"ke\x00y": 1}) or "")


def test_a_completions_body_is_refused_when_too_deep_or_not_valid_unicode() -> None:
    fine = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "x": nested(63)}

    assert parse_json(json.dumps(fine).encode()) == fine
    for raw in (
        json.dumps({"x": nested(MAX_BODY_DEPTH)}).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"content": "a\\ud800b"}',
        b'{"content": "\\udc00 then \\ud83d\\ude00"}',
    ):
        with pytest.raises(BadJson):
            parse_json(raw)


def test_surrogate_pairs_and_escaped_backslashes_are_not_refused() -> None:
    assert parse_json(b'{"c": "\\ud83d\\ude00"}') == {"c": "\U0001f600"}
    assert parse_json(b'{"c": "\\\\ud800"}') == {"c": "\\ud800"}  # a backslash, then text
    assert parse_json(b'{"c": "a\\u0000b"}') == {"c": "a\x00b"}  # NUL goes to the model


def test_bodies_of_the_other_routes_must_be_storable() -> None:
    assert storable_body_problem(b'{"content": "fine \\ud83d\\ude00"}') is None
    assert storable_body_problem(b"not json") is None  # the route answers that itself
    for raw, problem in (
        (b'{"username": "ad\\u0000min"}', "NUL"),
        (b'{"content": "\\ud800"}', "surrogate"),
        (b'{"m": NaN}', "NaN"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
    ):
        assert problem in (storable_body_problem(raw) or "")


@pytest.mark.parametrize(
    "query",
    [
        {"model": "\x00x"},
        {"user_id": "a\x00"},
        {"start": "0001-01-01T00:00:00Z", "group_by": "hour"},
        {"end": "9999-12-31T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z", "group_by": "hour"},
    ],
)
def test_usage_queries_out_of_bounds_are_invalid(query: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        UsageQuery.model_validate(query)


def test_usage_queries_within_bounds_are_valid() -> None:
    UsageQuery.model_validate(
        {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "group_by": "hour"}
    )
    UsageQuery.model_validate(
        {"start": "1970-01-01T00:00:00Z", "end": "2199-01-01T00:00:00Z", "group_by": "day"}
    )
    UsageQuery.model_validate(
        {"start": "1970-01-01T00:00:00Z", "group_by": "hour"}
    )  # spans the data
