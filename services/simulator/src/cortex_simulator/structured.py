"""Structured answers: JSON that fits a JSON Schema, and a deterministic "broken" mode.

The simulator has no model to constrain, so it builds the smallest value a schema accepts
(`example_for`). To test the checks that sit on top (schema validity rates, tool-call argument
checks), a model can be told to break a share of its structured answers: `broken_json` then
returns text that fails the schema in a known way (a required property missing, a wrong type,
or JSON cut short).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 6


def example_for(schema: Any, name: str = "", depth: int = 0) -> Any:
    """A value valid for `schema` (the common JSON Schema keywords; `$ref` is not followed)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return example_for(options[0], name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            key: example_for(sub, key, depth + 1)
            for key, sub in props.items()
            if isinstance(key, str)
        }
    if kind == "array":
        count = max(int(schema.get("minItems", 1) or 0), 1)
        return [example_for(schema.get("items") or {}, name, depth + 1) for _ in range(count)]
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    value: float = 1.0 if low is None else float(low) + (1 if "exclusiveMinimum" in schema else 0)
    high = schema.get("maximum")
    if high is not None and value > float(high):
        value = float(high)
    return math.ceil(value) if integer else value


def _string(schema: dict[str, Any], name: str) -> str:
    formats = {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z", "email": "a@example.com"}
    text = formats.get(str(schema.get("format")), name.replace("_", " ") or "example")
    minimum = int(schema.get("minLength", 0) or 0)
    if len(text) < minimum:
        text = text + "x" * (minimum - len(text))
    maximum = schema.get("maxLength")
    return text[: int(maximum)] if isinstance(maximum, int) else text


def valid_json(schema: Any) -> str:
    value = example_for(schema) if schema else {"answer": "example"}
    return json.dumps(value, ensure_ascii=False)


def broken_json(schema: Any) -> str:
    """JSON text that fails `schema`: a required property left out, else a property of the wrong
    type, else (no properties to break) JSON cut short."""
    value = example_for(schema) if schema else {"answer": "example"}
    if isinstance(value, dict) and isinstance(schema, dict):
        required = [r for r in schema.get("required") or [] if r in value]
        if required:
            del value[required[0]]
            return json.dumps(value, ensure_ascii=False)
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if isinstance(sub, dict) and sub.get("type") not in (None, "string"):
                value[key] = "not a " + str(sub.get("type"))
                return json.dumps(value, ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False)
    return text[: max(len(text) // 2, 1)]


def is_broken(index: int, rate: float, seed: int) -> bool:
    """Whether the `index`-th structured answer (0-based, since the counters were reset) is broken.

    Spread evenly: of any N answers in a row, round(N * rate) or one either side are broken, and
    exactly N * rate when that is a whole number counted from a reset; `seed` shifts the phase.
    """
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    at = index + seed
    return math.floor((at + 1) * rate + 1e-9) > math.floor(at * rate + 1e-9)
