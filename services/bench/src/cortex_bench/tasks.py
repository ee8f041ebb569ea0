"""The tasks a run starts beside its load (engine sampler, progress reporter), and stopping them
(or the run itself) within a bound.

A task is not always stopped by one `cancel()`: a cancellation that arrives just as a NATS
request's reply does is swallowed by Python 3.11's `asyncio.wait_for` (nats-py waits for every
reply with it; Python 3.12 fixed it), and the task goes on as if never cancelled. A sampler that
went on sampling kept its run "running" for good (the run waited for it to end). So a task is
cancelled again until it ends, and given up after a bound, with an error in the log, rather than
awaited forever.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

RECANCEL_EVERY_SEC = 0.1
STOP_WAIT_SEC = 10.0  # a task not ended by then is left behind (logged), the run goes on

# References to the tasks running beside a run, and to those left behind: the event loop keeps
# only weak ones, and a task collected while pending is silently lost.
_KEPT: set[asyncio.Task[Any]] = set()


def beside(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """Start `work` in a task of its own; its failure is logged at ERROR when it happens (nobody
    awaits it before the run ends)."""
    task = asyncio.create_task(work, name=name)
    _keep(task)
    task.add_done_callback(_report)
    return task


async def stop_task(task: asyncio.Task[Any], what: str, within: float = STOP_WAIT_SEC) -> bool:
    """Cancel `task`, again every RECANCEL_EVERY_SEC while it still runs, until it has ended:
    True. False when it still runs after `within` seconds (logged at ERROR, the task kept).
    If the caller is cancelled meanwhile, the task is cancelled once more and left to end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        left = deadline - loop.time()
        if left <= 0:
            log.error("%s did not stop within %g s of being cancelled; left behind", what, within)
            _keep(task)
            return False
        task.cancel()
        try:
            await asyncio.wait({task}, timeout=min(RECANCEL_EVERY_SEC, left))
        except asyncio.CancelledError:
            task.cancel()
            _keep(task)
            raise
    return True


def _keep(task: asyncio.Task[Any]) -> None:
    if not task.done():
        _KEPT.add(task)
        task.add_done_callback(_KEPT.discard)


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("%s failed", task.get_name(), exc_info=error)
