"""What the stores can hold of text and JSON documents.

PostgreSQL refuses NUL characters in text and in `jsonb`, NaN/Infinity in JSON, and text that is
not valid Unicode (an unpaired surrogate, which JSON's `\\ud800` escape can carry). The gateway
refuses such input (422) and the projections check events again with the same rules, so nothing
the gateway acknowledged is refused later.
"""

import math
import re
from collections.abc import Callable
from typing import Any

MAX_DOCUMENT_DEPTH = 32  # nesting of a stored JSON document (metrics, constraints)
_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(text: str) -> str | None:
    """Why `text` cannot be encoded as UTF-8 at all, or None."""
    if not text.isascii() and _SURROGATE.search(text):
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character"
    return unicode_problem(text)


def storable_text(text: str) -> str:
    """`text` as the stores can hold it: NUL characters dropped, unpaired surrogates replaced
    (U+FFFD). For text the system did not take from a user, such as a model's answer."""
    if text_problem(text):
        return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))
    return text


def storable_document(document: Any) -> Any:
    """`document` with every text in it (values and keys) made storable by `storable_text`. For
    documents the system did not take from a user (a model's answer as recorded), whose nesting
    the gateway has already bounded."""
    if isinstance(document, str):
        return storable_text(document)
    if isinstance(document, dict):
        return {
            storable_text(name) if isinstance(name, str) else name: storable_document(item)
            for name, item in document.items()
        }
    if isinstance(document, list):
        return [storable_document(item) for item in document]
    return document


def document_problem(
    document: Any,
    max_depth: int = MAX_DOCUMENT_DEPTH,
    *,
    check_text: Callable[[str], str | None] | None = text_problem,
    finite_only: bool = True,
) -> str | None:
    """Why a JSON document cannot be stored, or None. Walked without recursion: a deep document
    is refused, never a RecursionError. Other uses loosen the rules for text (None: any) and
    numbers."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return f"is nested deeper than {max_depth} levels"
        if isinstance(value, str):
            problem = check_text(value) if check_text else None
            if problem:
                return problem
        elif isinstance(value, float):
            if finite_only and not math.isfinite(value):
                return "contains NaN or Infinity"
        elif isinstance(value, dict):
            for name, item in value.items():
                problem = check_text(name) if check_text and isinstance(name, str) else None
                if problem:
                    return problem
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return None
