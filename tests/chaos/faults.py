"""Faults by process id: kill -9 (a server with its children, as a crashed machine would lose
them), or frozen (SIGSTOP ... SIGCONT: a stalled machine or a network cut, as clients see it)."""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from tests.support.outage import signal_all


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def kill_tree(pid: int) -> None:
    """Stopped first so that no new child (a PostgreSQL backend) escapes, then killed."""
    psutil.Process(pid).send_signal(signal.SIGSTOP)
    processes = tree(pid)
    signal_all(processes, signal.SIGKILL)
    psutil.wait_procs(processes, timeout=30)


@contextmanager
def frozen_tree(pid: int) -> Iterator[None]:
    psutil.Process(pid).send_signal(signal.SIGSTOP)  # first: it forks no more children
    stopped = tree(pid)
    signal_all(stopped, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_all(stopped, signal.SIGCONT)
