"""The load: streamed chat completions through the gateway, timed as vLLM `bench serve` times
them, in a closed loop (N requests in flight) or an open one (Poisson arrivals at a rate).

Cancelling a level's task aborts every request in flight at once (their connections close, so
the gateway stops the upstream streams) and starts no new one; the samples taken so far stay in
the list the caller passed.
"""

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from cortex_contracts.events.bench import RequestSample, RunSettings

ERROR_TEXT_LIMIT = 300
OnSample = Callable[[RequestSample], None]


@dataclass(frozen=True)
class Target:
    gateway_url: str
    api_key: str
    settings: RunSettings

    def body(self, prompt: str, seed: int) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": s.output_tokens,
            "seed": seed,
        }
        if s.temperature is not None:
            body["temperature"] = s.temperature
        if s.top_p is not None:
            body["top_p"] = s.top_p
        return body


@dataclass
class Budget:
    """What a level may still use: requests and time (None: no bound)."""

    requests: int | None
    until: float | None  # time.perf_counter() deadline

    def take(self) -> bool:
        if self.until is not None and time.perf_counter() >= self.until:
            return False
        if self.requests is not None:
            if self.requests <= 0:
                return False
            self.requests -= 1
        return True


class Driver:
    def __init__(self, client: httpx.AsyncClient, target: Target) -> None:
        self.client = client
        self.target = target
        self.url = f"{target.gateway_url.rstrip('/')}/v1/chat/completions"
        self.headers = {"Authorization": f"Bearer {target.api_key}"}
        self._seed = target.settings.seed

    async def one(self, prompt: str, t0: float) -> RequestSample:
        self._seed += 1  # a different (reproducible) seed per request
        body = self.target.body(prompt, self._seed)
        started = time.perf_counter()
        start_ms = (started - t0) * 1000
        ttft: float | None = None
        last = started
        gaps: list[float] = []
        usage: dict[str, Any] = {}
        try:
            async with self.client.stream(
                "POST", self.url, json=body, headers=self.headers
            ) as response:
                if response.status_code != 200:
                    text = (await response.aread()).decode(errors="replace")
                    return _failed(start_ms, f"HTTP {response.status_code}: {_message(text)}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    now = time.perf_counter()
                    chunk = json.loads(data)
                    if isinstance(chunk.get("error"), dict):
                        return _failed(start_ms, str(chunk["error"].get("message", "error")))
                    usage = chunk.get("usage") or usage
                    if not _has_content(chunk):
                        continue
                    if ttft is None:
                        ttft = (now - started) * 1000
                    else:
                        gaps.append(round((now - last) * 1000, 3))
                    last = now
        except (httpx.HTTPError, ValueError) as error:
            return _failed(start_ms, f"{type(error).__name__}: {error}")
        if ttft is None:
            return _failed(start_ms, "the stream ended without any content")
        return RequestSample(
            start_ms=round(start_ms, 3),
            ttft_ms=round(ttft, 3),
            e2el_ms=round((last - started) * 1000, 3),
            itl_ms=gaps,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or len(gaps) + 1),
        )

    async def closed_loop(
        self,
        prompts: Iterator[str],
        concurrency: int,
        budget: Budget,
        samples: list[RequestSample],
        on_sample: OnSample,
    ) -> None:
        """`concurrency` requests in flight until the budget is spent."""
        t0 = time.perf_counter()

        async def user() -> None:
            while budget.take():
                sample = await self.one(next(prompts), t0)
                samples.append(sample)
                on_sample(sample)

        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(user())

    async def open_loop(
        self,
        prompts: Iterator[str],
        rate: float,
        cap: int,
        rng: random.Random,
        budget: Budget,
        samples: list[RequestSample],
        on_sample: OnSample,
    ) -> None:
        """Poisson arrivals at `rate` per second (exponential gaps, seeded); at most `cap` in
        flight: an arrival beyond it waits for a free slot (the admin's guard rail)."""
        t0 = time.perf_counter()
        slots = asyncio.Semaphore(cap)

        async def request(prompt: str) -> None:
            try:
                sample = await self.one(prompt, t0)
                samples.append(sample)
                on_sample(sample)
            finally:
                slots.release()

        arrival = 0.0
        async with asyncio.TaskGroup() as group:
            while True:
                delay = t0 + arrival - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not budget.take():
                    break
                await slots.acquire()
                group.create_task(request(next(prompts)))
                arrival += rng.expovariate(rate)


def _has_content(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            return True
    return False


def _message(text: str) -> str:
    try:
        payload = json.loads(text)
        error = payload.get("error") or {}
        found = error.get("message") if isinstance(error, dict) else payload.get("detail")
        text = str(found or text)
    except (ValueError, AttributeError):
        pass
    return text.strip()[:ERROR_TEXT_LIMIT]


def _failed(start_ms: float, error: str) -> RequestSample:
    return RequestSample(start_ms=round(start_ms, 3), error=error[:ERROR_TEXT_LIMIT])
