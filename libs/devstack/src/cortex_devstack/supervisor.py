"""Run every process of the dev stack and restart whichever dies, NATS and PostgreSQL included.

A process that exits (a crash, `kill -9`) is started again after a backoff: 1, 2, 4, 8, 16
then 30 s between attempts (RESTART_BACKOFF_SEC); a process that then runs for STABLE_SEC
starts again from the first step. Each service's output is printed with its name (honcho's
printer) and appended to `<log_dir>/<name>.log`. Ctrl-C or SIGTERM stops everything, the
services first, the servers they need last.
"""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from honcho.printer import Message, Printer

RESTART_BACKOFF_SEC = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # the last one repeats
STABLE_SEC = 60.0
POLL_SEC = 0.2
STOP_GRACE_SEC = 15.0
COLOURS = (36, 33, 32, 35, 34, 31)


class TeePrinter(Printer):
    """Prints like honcho and appends each process's lines to `<log_dir>/<name>.log`."""

    def __init__(self, log_dir: Path, width: int) -> None:
        super().__init__(output=sys.stdout, width=width)
        self.log_dir = log_dir
        self.lock = threading.Lock()
        log_dir.mkdir(parents=True, exist_ok=True)

    def write(self, message: Any) -> None:
        with self.lock:
            super().write(message)
            if not message.name or message.name == "system":
                return
            data = message.data
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            with open(self.log_dir / f"{message.name}.log", "a", encoding="utf-8") as log_file:
                log_file.write(text if text.endswith("\n") else text + "\n")

    def say(self, name: str, text: str, colour: int | None = None) -> None:
        self.write(Message("line", text, datetime.now(), name, colour))


@dataclass
class Child:
    """One supervised process: `start` starts it (a server: until it serves) and returns it;
    `stop` ends it."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    stop: Callable[[subprocess.Popen[bytes]], None]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # restarts in a row without a stable run
    restart_at: float | None = None


def backoff(failures: int) -> float:
    """The wait before restart number `failures` (1-based) of a row."""
    return RESTART_BACKOFF_SEC[min(failures, len(RESTART_BACKOFF_SEC)) - 1]


class Supervisor:
    def __init__(self, printer: TeePrinter) -> None:
        self.printer = printer
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def add(
        self,
        name: str,
        start: Callable[[], subprocess.Popen[bytes]],
        stop: Callable[[subprocess.Popen[bytes]], None],
        running: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """`running`: the process when it is started already (a server the stack needed first)."""
        child = Child(name, start, stop, process=running)
        if running is not None:
            child.started_at = time.monotonic()
        self.children.append(child)

    def add_command(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        colour = COLOURS[len(self.children) % len(COLOURS)]

        def start() -> subprocess.Popen[bytes]:
            process = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert process.stdout is not None
            threading.Thread(
                target=self._relay, args=(name, process.stdout, colour), daemon=True
            ).start()
            return process

        self.add(name, start, terminate)

    def run(self) -> int:
        """Starts every child in order, restarts those that die, until asked to stop."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._ask_to_stop)
        try:
            for child in self.children:
                if child.process is None:
                    self._start(child)
            while not self.stopping.wait(POLL_SEC):
                for child in self.children:
                    self._watch(child)
        finally:
            self.stop_all()
        return 0

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                self.printer.say("system", f"stopping {child.name}")
                child.stop(child.process)

    def _ask_to_stop(self, signum: int, _: FrameType | None) -> None:
        self.printer.say("system", f"{signal.Signals(signum).name}: stopping the stack")
        self.stopping.set()

    def _watch(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                self._start(child)
            return
        if child.process is None or child.process.poll() is None:
            return
        if now - child.started_at >= STABLE_SEC:
            child.failures = 0
        child.failures += 1
        wait = backoff(child.failures)
        child.restart_at = now + wait
        self.printer.say(
            "system",
            f"{child.name} exited with code {child.process.returncode}; restarting in {wait:g} s",
        )

    def _start(self, child: Child) -> None:
        child.restart_at = None
        try:
            child.process = child.start()
        except Exception as error:  # a server that would not come up: try again later
            child.failures += 1
            child.restart_at = time.monotonic() + backoff(child.failures)
            self.printer.say("system", f"{child.name} did not start ({error}); trying again")
            return
        if child.started_at:
            self.printer.say("system", f"{child.name} restarted (pid {child.process.pid})")
        child.started_at = time.monotonic()

    def _relay(self, name: str, output: IO[bytes], colour: int) -> None:
        for line in iter(output.readline, b""):
            self.printer.write(Message("line", line, datetime.now(), name, colour))


def terminate(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SEC)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
