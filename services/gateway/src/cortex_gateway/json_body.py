"""JSON request bodies: nesting and text that no route accepts, refused before any route sees them.

`json.loads` itself stops at Python's recursion limit with a RecursionError, and a body nested a
few hundred levels parses but breaks whatever walks it next (encoders, validators). Lone
surrogates (`"\\ud800"`) parse into text that cannot be encoded as UTF-8. The checks walk the
parsed body's containers for depth (a long conversation has ~100), and its texts only when the
raw bytes hold an escaped surrogate (pairs, such as an emoji from a client that escapes all
non-ASCII, are fine).
"""

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cortex_contracts.storable import document_problem, text_problem, unicode_problem

MAX_BODY_DEPTH = 64  # the deepest a request body (a tool's JSON schema, say) may nest
# The first escaped surrogate is found at once; a regex for unpaired ones only would have to scan
# the whole body (slower than the walk it would save).
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# What the stores refuse, for the routes that store what they get (all but completions).
UNSTORABLE = re.compile(rb"\\u[dD][89a-fA-F]|\\u0000|NaN|Infinity")


class BadJson(ValueError):
    """The body is not JSON, or not JSON any route accepts; the message says why."""


def parse_json(raw: bytes) -> Any:
    """The completions body: parsed, nested at most MAX_BODY_DEPTH levels, valid Unicode."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadJson(f"The request body {_too_deep()}.") from None
    except ValueError:
        raise BadJson("The request body is not valid JSON.") from None
    if _has_surrogate_escape(raw):
        problem = document_problem(
            body, MAX_BODY_DEPTH, check_text=unicode_problem, finite_only=False
        )
        if problem:
            raise BadJson(f"The request body {problem}.")
    elif _deeper_than(body, MAX_BODY_DEPTH):
        raise BadJson(f"The request body {_too_deep()}.")
    return body


def storable_body_problem(raw: bytes) -> str | None:
    """Why a JSON body holds what no store can keep (see cortex_contracts.storable), or None.
    A body that is not JSON at all is left to the route's own parsing."""
    if not (_could_be_deep(raw) or UNSTORABLE.search(raw)):
        return None
    try:
        body = json.loads(raw)
    except RecursionError:
        problem: str | None = _too_deep()
    except ValueError:
        return None
    else:
        problem = document_problem(body, MAX_BODY_DEPTH, check_text=text_problem)
    return f"Invalid request: the body {problem}." if problem else None


def _has_surrogate_escape(raw: bytes) -> bool:
    return b"\\" in raw and SURROGATE_ESCAPE.search(raw) is not None  # most bodies: no "\\" at all


def _could_be_deep(raw: bytes) -> bool:
    return raw.count(b"[") + raw.count(b"{") > MAX_BODY_DEPTH


def _deeper_than(document: Any, max_depth: int) -> bool:
    """Whether a value sits more than `max_depth` levels below the top (as document_problem
    counts), level by level through the containers only: cheaper than scanning the raw bytes."""
    level = [document] if isinstance(document, (dict, list)) else []
    for _ in range(max_depth):
        inner: list[Any] = []
        add = inner.append
        for value in level:
            for item in value.values() if isinstance(value, dict) else value:
                if isinstance(item, (dict, list)):
                    add(item)
        if not inner:
            return False
        level = inner
    return any(level)  # a container at the limit holds values: they sit deeper


def _too_deep() -> str:
    return f"is nested deeper than {MAX_BODY_DEPTH} levels"  # as document_problem words it


class StorableJsonBodies:
    """ASGI middleware for the FastAPI routes: a JSON body is read whole when the route first
    asks for it (the body limit outside this middleware bounds it), checked, and handed on as one
    message; a bad one is refused with 422. Requests whose body no route reads pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "json" not in Headers(scope=scope).get("content-type", ""):
            await self.app(scope, receive, send)
            return
        await self.app(scope, _checked(receive, storable_body_problem), send)


def _checked(receive: Receive, problem_of: Callable[[bytes], str | None]) -> Receive:
    read = False

    async def receive_checked() -> Message:
        nonlocal read
        if read:
            return await receive()  # after the body: only the disconnect is left
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        read = True
        body = b"".join(parts)
        problem = problem_of(body)
        if problem:
            raise HTTPException(422, detail=problem)
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_checked
