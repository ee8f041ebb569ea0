"""Deterministic, markdown-rich answers of an exact token length."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cortex_simulator.tokens import split_pieces

ECHO_MARKER = "echo:"

TEMPLATES: tuple[str, ...] = (
    """## Summary

Here is a short overview of the topic you asked about.

- **Speed**: responses stream token by token.
- **Determinism**: the same question gives the same answer.
- *Simplicity*: no model weights are needed.

| Metric | Value | Unit |
|--------|------:|------|
| TTFT   | 80    | ms   |
| ITL    | 15    | ms   |

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"


print(greet("world"))
```

That covers the main points.""",
    """# Step-by-step plan

1. Read the request carefully.
2. Split the work into small parts.

- First, check the inputs.
- Then, run the tests.
- Finally, ship the change.

| Step | Owner | Status |
|------|-------|--------|
| Design | Alice | done |
| Build | Bob | in progress |

```bash
set -euo pipefail
for f in *.txt; do
  wc -l "$f"
done
```

> Tip: keep each step small.""",
    """### Quick answer

The short version is below, followed by details.

* `stream=true` sends server-sent events.
* `max_tokens` limits the answer length.
* `stream_options.include_usage` adds a usage chunk.

| Option | Default | Notes |
|:-------|:-------:|:------|
| stream | false | SSE when true |
| max_tokens | none | hard cut |

```json
{
  "model": "sim-vllm-small",
  "stream": true,
  "messages": [{"role": "user", "content": "hi"}]
}
```

Let me know if you need more.""",
    """## Example in TypeScript

A small helper and some notes on how to use it.

- It is **pure**: no side effects.
- It handles *empty* input.
- It runs in the browser and in Node.

| Input | Output |
|-------|--------|
| `[]`  | `0`    |
| `[1, 2, 3]` | `6` |

```typescript
export function sum(values: number[]): number {
  return values.reduce((acc, v) => acc + v, 0);
}
```

Use it wherever you need a total.""",
)

FILLER = (
    "\n\nAdditional detail: the simulator pads every answer so that its length matches the "
    "requested number of tokens exactly, which keeps benchmarks and tests predictable."
)

REASONING_TEXT = (
    "Let me think about this request step by step. The user wants a clear answer, so I will "
    "outline the main points, add an example, and keep the formatting consistent."
)


@dataclass(frozen=True, slots=True)
class Answer:
    """Pieces (one token each) to send, and why generation stopped."""

    reasoning: tuple[str, ...]
    content: tuple[str, ...]
    finish_reason: str

    @property
    def completion_tokens(self) -> int:
        return len(self.reasoning) + len(self.content)

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)


def template_index(prompt: str) -> int:
    """Stable template choice for a prompt (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % len(TEMPLATES)


def extract_echo(prompt: str) -> str | None:
    """Text after the first ``echo:`` (leading whitespace removed), or None."""
    pos = prompt.find(ECHO_MARKER)
    if pos < 0:
        return None
    return prompt[pos + len(ECHO_MARKER) :].lstrip()


@lru_cache(maxsize=len(TEMPLATES) + 2)
def _template_pieces(index: int) -> tuple[str, ...]:
    return tuple(split_pieces(TEMPLATES[index]))


@lru_cache(maxsize=2)
def _cycle_pieces(text: str) -> tuple[str, ...]:
    return tuple(split_pieces(text))


def _extend(base: tuple[str, ...], filler: tuple[str, ...], n: int) -> tuple[str, ...]:
    if n <= len(base):
        return base[:n]
    out = list(base)
    while len(out) < n:
        out.extend(filler)
    return tuple(out[:n])


@lru_cache(maxsize=1024)
def template_answer(index: int, n_tokens: int) -> tuple[str, ...]:
    """Exactly ``n_tokens`` pieces of template ``index`` (padded with filler paragraphs)."""
    return _extend(_template_pieces(index), _cycle_pieces(FILLER), n_tokens)


@lru_cache(maxsize=64)
def reasoning_pieces(n_tokens: int) -> tuple[str, ...]:
    """Exactly ``n_tokens`` pieces of reasoning text."""
    base = _cycle_pieces(REASONING_TEXT)
    return _extend(base, _cycle_pieces(" " + REASONING_TEXT), n_tokens)


def build_answer(
    prompt: str,
    output_tokens: int,
    cap: int | None,
    reasoning_tokens: int = 0,
) -> Answer:
    """Plan the answer to ``prompt``.

    The natural answer has ``reasoning_tokens`` (at most half of ``output_tokens``) reasoning
    tokens followed by content: the echoed text for an ``echo:`` prompt, else a template padded
    or cut to ``output_tokens`` in total. When the natural length exceeds ``cap`` (max_tokens or
    remaining context), the answer is cut to ``cap`` tokens, reasoning first, and the finish
    reason is ``length``.
    """
    n_reason = min(max(reasoning_tokens, 0), output_tokens // 2)
    echo = extract_echo(prompt)
    if echo is None:
        n_content = output_tokens - n_reason
        content = template_answer(template_index(prompt), n_content)
    else:
        content = tuple(split_pieces(echo))
    natural = n_reason + len(content)
    if cap is not None and natural > cap:
        cap = max(cap, 0)
        r = min(n_reason, cap)
        return Answer(reasoning_pieces(r), content[: cap - r], "length")
    return Answer(reasoning_pieces(n_reason), content, "stop")
