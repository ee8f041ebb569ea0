"""The read timeout of an upstream exchange, kept without any work per chunk.

Re-arming a loop timer on every network read is a measurable share of the gateway's CPU at a
few thousand chunks a second. Instead one timer per exchange looks, CHECKS_PER_LIMIT times per
limit, whether the upstream sent any byte since its last look; after a whole limit of silence the
exchange fails with TimeoutError. So a silent upstream is given up after 1 to
1 + 1/CHECKS_PER_LIMIT limits.
"""

import asyncio
from typing import Protocol

CHECKS_PER_LIMIT = 4


class Watched(Protocol):
    @property
    def received_bytes(self) -> int: ...

    def fail(self, error: BaseException) -> None: ...


class SilenceWatch:
    def __init__(self, exchange: Watched, limit_sec: float) -> None:
        self._exchange = exchange
        self._interval = limit_sec / CHECKS_PER_LIMIT
        self._seen_bytes = exchange.received_bytes
        self._silent_checks = 0
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self._interval, self._check)

    def _check(self) -> None:
        received = self._exchange.received_bytes
        if received != self._seen_bytes:
            self._seen_bytes, self._silent_checks = received, 0
        else:
            self._silent_checks += 1
            if self._silent_checks >= CHECKS_PER_LIMIT:
                self._exchange.fail(TimeoutError())
                return
        self._timer = self._loop.call_later(self._interval, self._check)

    def stop(self) -> None:
        self._timer.cancel()
