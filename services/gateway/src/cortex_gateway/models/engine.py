"""Talking to model servers: one shared HTTP client session (also used by the completions proxy),
context size discovery (cached) and tokenization with the engine's own tokenizer.

The client is aiohttp's: its C parser makes a streamed chunk cost about a third of what it costs
through httpx, which decides how many streams a gateway process can relay (bench/bench_gateway.py).

- vLLM: `GET /v1/models` has `max_model_len`; `POST /tokenize` takes `{model, messages}` (chat
  template applied) or `{model, prompt}` and answers `{count, max_model_len, tokens}`.
- llama.cpp server: `GET /props` has `default_generation_settings.n_ctx`, the context of one slot
  (the `-c` total is shared by `total_slots` parallel slots); `POST /apply-template` renders the
  chat template; `POST /tokenize` takes `{content}` and answers `{tokens}`.
- any other OpenAI-compatible server: `/v1/models` may carry `max_model_len`; no tokenizer, so
  ~4 characters per token (`exact: false`).
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from cortex_contracts.events.models import Upstream

if TYPE_CHECKING:
    from cortex_gateway.settings import Settings

PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3.0)
FAILED_PROBE_TTL_SEC = 10.0  # a dead engine is asked again soon, not on every request
CHARS_PER_TOKEN = 4
# Chat template tokens around each message and before the answer (typical of real templates).
MESSAGE_OVERHEAD_TOKENS = 4
ANSWER_PROMPT_TOKENS = 3


@dataclass(frozen=True)
class TokenCount:
    count: int
    exact: bool


def api_root(upstream: Upstream) -> str:
    """The server root: base_url without a trailing slash or `/v1` (both spellings are common)."""
    base = str(upstream.base_url).rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def chat_completions_url(upstream: Upstream) -> str:
    return api_root(upstream) + "/v1/chat/completions"


def auth_headers(upstream: Upstream) -> dict[str, str]:
    return {"Authorization": f"Bearer {upstream.api_key}"} if upstream.api_key else {}


def content_text(content: Any) -> str:
    """Text of an OpenAI message `content`: a string, a list of parts, or null."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return str(content)


def plain_messages(messages: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {"role": str(m.get("role", "user")), "content": content_text(m.get("content"))}
        for m in messages
        if isinstance(m, dict)
    ]


def estimate_text(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_messages(messages: Sequence[dict[str, str]]) -> int:
    content = sum(estimate_text(m["content"]) for m in messages)
    return content + MESSAGE_OVERHEAD_TOKENS * len(messages) + ANSWER_PROMPT_TOKENS


class EngineClient:
    def __init__(
        self,
        *,
        connect_timeout_sec: float = 5.0,
        read_timeout_sec: float = 300.0,
        max_connections: int = 2000,
        info_ttl_sec: float = 300.0,
    ) -> None:
        # Engine info and tokenizers (completions go through completions/upstream.py): a bound
        # on connecting and on silence between two reads.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_sec, sock_read=read_timeout_sec
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._info_ttl_sec = info_ttl_sec
        self._context: dict[str, tuple[str, int | None, float]] = {}

    @property
    def http(self) -> aiohttp.ClientSession:
        """The shared session, made on first use (inside the running event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, limit_per_host=0, keepalive_timeout=60.0
                ),
                timeout=self._timeout,
                trust_env=False,  # model servers are reached directly, never through env proxies
                auto_decompress=True,
            )
        return self._session

    @classmethod
    def from_settings(cls, settings: "Settings") -> "EngineClient":
        return cls(
            connect_timeout_sec=settings.upstream_connect_timeout_sec,
            read_timeout_sec=settings.upstream_read_timeout_sec,
            max_connections=settings.upstream_max_connections,
            info_ttl_sec=settings.engine_info_ttl_sec,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    # --- context size -----------------------------------------------------------------------
    async def max_model_len(self, upstream: Upstream, known: int | None = None) -> int | None:
        """Configured context, else `known` (e.g. from the health service), else discovered."""
        if upstream.context_size:
            return upstream.context_size
        if known:
            self.remember_max_model_len(upstream, known)
            return known
        base = api_root(upstream)
        cached = self._context.get(upstream.served_model_name)
        if cached is not None and cached[0] == base and cached[2] > time.monotonic():
            return cached[1]
        value = await self._discover_context(upstream)
        ttl = self._info_ttl_sec if value is not None else FAILED_PROBE_TTL_SEC
        self._context[upstream.served_model_name] = (base, value, time.monotonic() + ttl)
        return value

    def remember_max_model_len(self, upstream: Upstream, value: int) -> None:
        expires = time.monotonic() + self._info_ttl_sec
        self._context[upstream.served_model_name] = (api_root(upstream), value, expires)

    async def _discover_context(self, upstream: Upstream) -> int | None:
        try:
            if upstream.engine_type == "llamacpp":
                props = await self._get_json(upstream, "/props")
                return _llamacpp_slot_context(props)
            listing = await self._get_json(upstream, "/v1/models")
            return _listed_max_model_len(listing, upstream.served_model_name)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    # --- tokenization -----------------------------------------------------------------------
    async def count_tokens(
        self,
        upstream: Upstream,
        *,
        messages: Sequence[Any] | None = None,
        text: str | None = None,
    ) -> TokenCount:
        """Tokens of a chat prompt (`messages`, template included) or of plain `text`."""
        plain = plain_messages(messages) if messages is not None else None
        try:
            if upstream.engine_type == "vllm":
                return await self._vllm_count(upstream, plain, text)
            if upstream.engine_type == "llamacpp":
                return await self._llamacpp_count(upstream, plain, text)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            pass  # the estimate below keeps the context indicator working
        if plain is not None:
            return TokenCount(estimate_messages(plain), exact=False)
        return TokenCount(estimate_text(text or ""), exact=False)

    async def _vllm_count(
        self, upstream: Upstream, messages: list[dict[str, str]] | None, text: str | None
    ) -> TokenCount:
        body: dict[str, Any] = {"model": upstream.served_model_name}
        if messages is not None:
            body["messages"] = messages
        else:
            body.update(prompt=text or "", add_special_tokens=False)
        answer = await self._post_json(upstream, "/tokenize", body)
        if isinstance(answer.get("max_model_len"), int) and answer["max_model_len"] > 0:
            self.remember_max_model_len(upstream, answer["max_model_len"])
        return TokenCount(int(answer["count"]), exact=True)

    async def _llamacpp_count(
        self, upstream: Upstream, messages: list[dict[str, str]] | None, text: str | None
    ) -> TokenCount:
        if messages is None:
            answer = await self._post_json(
                upstream, "/tokenize", {"content": text or "", "add_special": False}
            )
            return TokenCount(len(answer["tokens"]), exact=True)
        rendered = await self._post_json(upstream, "/apply-template", {"messages": messages})
        answer = await self._post_json(
            upstream,
            "/tokenize",
            {"content": rendered["prompt"], "add_special": True, "parse_special": True},
        )
        return TokenCount(len(answer["tokens"]), exact=True)

    async def prompt_tokens(self, upstream: Upstream, messages: Sequence[Any]) -> list[str] | None:
        """The prompt's tokens as text, from the engine's tokenizer (template included); None
        when the engine has no tokenizer endpoint or does not give token texts."""
        plain = plain_messages(messages)
        try:
            if upstream.engine_type == "vllm":
                body = {"model": upstream.served_model_name, "messages": plain}
                answer = await self._post_json(
                    upstream, "/tokenize", {**body, "return_token_strs": True}
                )
                strs = answer.get("token_strs")
                return [str(t) for t in strs] if isinstance(strs, list) else None
            if upstream.engine_type == "llamacpp":
                rendered = await self._post_json(upstream, "/apply-template", {"messages": plain})
                content = {
                    "content": rendered["prompt"],
                    "add_special": True,
                    "parse_special": True,
                }
                answer = await self._post_json(
                    upstream, "/tokenize", {**content, "with_pieces": True}
                )
                return [str(t["piece"]) for t in answer["tokens"]]
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError):
            return None
        return None

    # --- HTTP -------------------------------------------------------------------------------
    async def _get_json(self, upstream: Upstream, path: str) -> dict[str, Any]:
        async with self.http.get(
            api_root(upstream) + path, headers=auth_headers(upstream), timeout=PROBE_TIMEOUT
        ) as response:
            return await _json_object(response)

    async def _post_json(self, upstream: Upstream, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(
            api_root(upstream) + path,
            json=body,
            headers=auth_headers(upstream),
            timeout=PROBE_TIMEOUT,
        ) as response:
            return await _json_object(response)


async def _json_object(response: aiohttp.ClientResponse) -> dict[str, Any]:
    response.raise_for_status()
    data = await response.json(content_type=None)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _llamacpp_slot_context(props: dict[str, Any]) -> int | None:
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        return int(settings["n_ctx"]) or None
    total, slots = props.get("n_ctx"), props.get("total_slots") or 1
    if isinstance(total, int) and isinstance(slots, int) and slots > 0:
        return total // slots or None
    return None


def _listed_max_model_len(listing: dict[str, Any], name: str) -> int | None:
    cards = [c for c in listing.get("data") or [] if isinstance(c, dict)]
    card = next((c for c in cards if c.get("id") == name), cards[0] if len(cards) == 1 else None)
    if card is not None and isinstance(card.get("max_model_len"), int):
        return int(card["max_model_len"]) or None
    return None
