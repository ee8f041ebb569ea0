"""Deterministic toy tokenizer shared by every simulated model.

A token is a run of word characters (``\\w+``) or one character that is neither a word character
nor whitespace. Whitespace is never a token of its own: when text is split into *pieces* for
streaming, each piece carries the whitespace in front of its token, so ``"".join(pieces)`` gives
back the text and ``count_tokens("".join(pieces[:n])) == n`` for every ``n``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])")

VOCAB_SIZE = 32000
BOS_ID = 1
EOS_ID = 2
MSG_START_ID = 3
MSG_END_ID = 4
NEWLINE_ID = 5
_FIRST_REGULAR_ID = 100

# Chat template overhead: `<start> role \n ... <end>` per message, `<start> assistant \n` once.
MESSAGE_OVERHEAD = 4
GENERATION_PROMPT_OVERHEAD = 3


def count_tokens(text: str) -> int:
    """Number of tokens in ``text``."""
    return len(TOKEN_RE.findall(text))


def token_id(token: str) -> int:
    """Stable id of one token (a word run or a single symbol)."""
    span = VOCAB_SIZE - _FIRST_REGULAR_ID
    return _FIRST_REGULAR_ID + zlib.crc32(token.encode("utf-8")) % span


def token_ids(text: str) -> list[int]:
    """Ids of the tokens of ``text``."""
    return [token_id(tok) for tok in TOKEN_RE.findall(text)]


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into one piece per token (leading whitespace attached).

    Trailing whitespace is attached to the last piece; text without any token gives ``[]``.
    """
    pieces: list[str] = PIECE_RE.findall(text)
    if not pieces:
        return []
    used = sum(len(p) for p in pieces)
    if used < len(text):
        pieces[-1] += text[used:]
    return pieces


def content_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string, a list of parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def _message_fields(message: Any) -> tuple[str, str]:
    if isinstance(message, Mapping):
        return str(message.get("role", "user")), content_text(message.get("content"))
    role = getattr(message, "role", "user")
    return str(role), content_text(getattr(message, "content", None))


def prompt_token_ids(messages: Iterable[Any], add_generation_prompt: bool = True) -> list[int]:
    """Token ids of a chat prompt (messages are dicts or objects with ``role``/``content``)."""
    ids: list[int] = []
    for message in messages:
        role, text = _message_fields(message)
        ids.append(MSG_START_ID)
        ids.append(token_id(role))
        ids.append(NEWLINE_ID)
        ids.extend(token_ids(text))
        ids.append(MSG_END_ID)
    if add_generation_prompt:
        ids.extend((MSG_START_ID, token_id("assistant"), NEWLINE_ID))
    return ids


def prompt_token_strs(messages: Iterable[Any], add_generation_prompt: bool = True) -> list[str]:
    """The texts of `prompt_token_ids`, token by token."""
    strs: list[str] = []
    for message in messages:
        role, text = _message_fields(message)
        strs.extend(("<start>", role, "\n", *TOKEN_RE.findall(text), "<end>"))
    if add_generation_prompt:
        strs.extend(("<start>", "assistant", "\n"))
    return strs


def count_prompt_tokens(messages: Sequence[Any], add_generation_prompt: bool = True) -> int:
    """Prompt tokens of a chat request: contents plus a small per-message overhead."""
    total = GENERATION_PROMPT_OVERHEAD if add_generation_prompt else 0
    for message in messages:
        _, text = _message_fields(message)
        total += MESSAGE_OVERHEAD + count_tokens(text)
    return total
