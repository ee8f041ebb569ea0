"""Made-up but stable token probabilities, in the OpenAI chat `logprobs` shape.

Each answer token gets a probability from a hash of its position and text (so a repeated
request gets the same figures), and `top_logprobs` lists it first, then alternatives with the
rest of the probability mass halving from one to the next.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

ALTERNATIVES = (
    " the",
    " a",
    " this",
    " it",
    " and",
    " to",
    " of",
    " in",
    " is",
    " that",
    " we",
    " you",
    ",",
    ".",
    " model",
    " answer",
    " for",
    " with",
    " on",
    " as",
)
MAX_TOP_LOGPROBS = 20


def _probability(position: int, token: str) -> float:
    h = zlib.crc32(f"{position}:{token}".encode())
    # Mostly confident, now and then unsure: the token view then has all its colours.
    return 0.2 + 0.79 * ((h % 1000) / 1000.0) ** 0.35


def token_entry(position: int, token: str, top: int) -> dict[str, Any]:
    p = _probability(position, token)
    entry: dict[str, Any] = {
        "token": token,
        "logprob": math.log(p),
        "bytes": list(token.encode("utf-8")),
        "top_logprobs": [],
    }
    if top > 0:
        alts: list[dict[str, Any]] = [
            {"token": token, "logprob": math.log(p), "bytes": list(token.encode("utf-8"))}
        ]
        rest = 1.0 - p
        start = zlib.crc32(token.encode()) % len(ALTERNATIVES)
        for j in range(top - 1):
            alt = ALTERNATIVES[(start + j) % len(ALTERNATIVES)]
            if alt == token:
                alt = alt.strip() + "s"
            rest /= 2
            alts.append(
                {"token": alt, "logprob": math.log(max(rest, 1e-12)), "bytes": list(alt.encode())}
            )
        entry["top_logprobs"] = alts
    return entry


def logprobs_for(pieces: tuple[str, ...] | list[str], start: int, top: int) -> dict[str, Any]:
    """The `choices[].logprobs` object of these tokens (`start`: position of the first)."""
    return {"content": [token_entry(start + i, t, top) for i, t in enumerate(pieces)]}
