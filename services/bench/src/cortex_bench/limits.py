"""The admin's guard rails, kept in the bench-limits bucket (defaults until an admin sets them)."""

import contextlib

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from cortex_contracts.messages.bench import BenchLimits

LIMITS_KEY = "limits"


async def read_limits(bucket: KeyValue) -> BenchLimits:
    with contextlib.suppress(KeyNotFoundError, ValidationError):
        entry = await bucket.get(LIMITS_KEY)
        if entry.value:
            return BenchLimits.model_validate_json(entry.value)
    return BenchLimits()
