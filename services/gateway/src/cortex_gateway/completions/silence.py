"""The read timeout of a relayed stream, kept without any work per chunk.

aiohttp's `sock_read` timeout cancels and re-arms a loop timer on every network read; at a few
thousand chunks a second that is a measurable share of the gateway's CPU. Instead one timer per
stream looks, CHECKS_PER_LIMIT times per limit, whether the upstream sent any byte since its last
look; after a whole limit of silence the waiting read raises TimeoutError (what aiohttp's own
timeout does). So a silent upstream is given up after 1 to 1 + 1/CHECKS_PER_LIMIT limits.
"""

import asyncio

import aiohttp

CHECKS_PER_LIMIT = 4


class SilenceWatch:
    def __init__(self, content: aiohttp.StreamReader, limit_sec: float) -> None:
        self._content = content
        self._interval = limit_sec / CHECKS_PER_LIMIT
        self._seen_bytes = content.total_bytes
        self._silent_checks = 0
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self._interval, self._check)

    def _check(self) -> None:
        received = self._content.total_bytes
        if received != self._seen_bytes:
            self._seen_bytes, self._silent_checks = received, 0
        else:
            self._silent_checks += 1
            if self._silent_checks >= CHECKS_PER_LIMIT:
                self._content.set_exception(TimeoutError())
                return
        self._timer = self._loop.call_later(self._interval, self._check)

    def stop(self) -> None:
        self._timer.cancel()
