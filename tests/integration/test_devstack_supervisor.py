"""`make dev` keeps the stack up: a service, NATS or PostgreSQL that dies is started again after
a backoff, and a PostgreSQL killed with -9 restarts even when its stale postmaster.pid names a
PID that another process has taken since."""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest

from cortex_devstack.embedded import POSTGRES_OS_USER, EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port
from cortex_devstack.stack import supervise_server
from cortex_devstack.supervisor import RESTART_BACKOFF_SEC, Child, Supervisor, TeePrinter, backoff
from tests.support.backends import server_dir
from tests.support.completions import eventually
from tests.support.outage import kill

pytestmark = pytest.mark.integration

SLEEPER = [sys.executable, "-c", "import time; print('serving', flush=True); time.sleep(600)"]


@pytest.fixture
def folder() -> Iterator[Path]:
    with server_dir() as path:  # outside pytest's tree: see server_dir
        yield path


@pytest.fixture
def supervisor(folder: Path) -> Iterator[Supervisor]:
    running = Supervisor(TeePrinter(folder / "logs", width=10))
    yield running
    running.stopping.set()


async def run_in_background(supervisor: Supervisor) -> threading.Thread:
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()

    async def started() -> bool:
        return all(c.process is not None for c in supervisor.children)

    await eventually(started, "every child started")
    return thread


def child(supervisor: Supervisor, name: str) -> Child:
    return next(c for c in supervisor.children if c.name == name)


async def restarted(supervisor: Supervisor, name: str, old_pid: int) -> None:
    async def again() -> bool:
        process = child(supervisor, name).process
        return process is not None and process.pid != old_pid and process.poll() is None

    await eventually(again, f"{name} restarted", deadline_sec=90)


def test_the_backoff_doubles_then_stays_at_its_longest() -> None:
    assert [backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert RESTART_BACKOFF_SEC[-1] == 30


async def test_a_killed_service_is_started_again_and_says_so(
    supervisor: Supervisor, folder: Path
) -> None:
    supervisor.add_command("sleeper", SLEEPER, env=dict(os.environ), cwd=folder)
    thread = await run_in_background(supervisor)
    first = child(supervisor, "sleeper").process
    assert first is not None
    log = folder / "logs" / "sleeper.log"

    def runs_logged() -> int:
        return log.read_text().count("serving") if log.exists() else 0

    async def first_run_logged() -> bool:
        return runs_logged() == 1

    # Killed before it prints, the first run would leave nothing to count (CI saw this).
    await eventually(first_run_logged, "the first run's output in its log")
    first.kill()

    await restarted(supervisor, "sleeper", first.pid)

    async def both_runs_logged() -> bool:
        return runs_logged() == 2

    await eventually(both_runs_logged, "the output of both runs in its log")
    supervisor.stopping.set()
    thread.join(timeout=30)
    second = child(supervisor, "sleeper").process
    assert second is not None and second.poll() is not None  # stopped with the stack


async def test_killed_nats_and_postgres_are_restarted_with_their_data(
    supervisor: Supervisor, folder: Path
) -> None:
    nats_server = EmbeddedNats(folder / "nats", free_port())
    nats_server.start(log_file=folder / "nats.log")
    postgres = EmbeddedPostgres(folder / "postgres", free_port())
    postgres.start(log_file=folder / "postgres.log")
    postgres.create_database("kept")
    supervise_server(supervisor, "nats", nats_server, folder / "nats.log")
    supervise_server(supervisor, "postgres", postgres, folder / "postgres.log")
    await run_in_background(supervisor)
    assert nats_server.process is not None and postgres.process is not None
    nats_pid, postgres_pid = nats_server.process.pid, postgres.process.pid

    kill(nats_server.process)
    kill(postgres.process)

    await restarted(supervisor, "nats", nats_pid)
    await restarted(supervisor, "postgres", postgres_pid)
    with psycopg.connect(postgres.libpq_url("kept"), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    client = await nats.connect(nats_server.url)
    assert (await client.jetstream().account_info()).streams == 0
    await client.close()


def test_a_stale_pid_file_naming_a_reused_pid_does_not_stop_a_restart(folder: Path) -> None:
    postgres = EmbeddedPostgres(folder / "postgres", free_port())
    postgres.start(log_file=folder / "postgres.log")
    assert postgres.process is not None
    kill(postgres.process)
    pid_file = postgres.data_dir / "postmaster.pid"
    lines = pid_file.read_text().split("\n")
    # Its PID taken by another process of PostgreSQL's OS user (PostgreSQL cannot tell).
    os_user = POSTGRES_OS_USER if os.geteuid() == 0 else None
    other = subprocess.Popen(["sleep", "600"], user=os_user)
    pid_file.write_text("\n".join([str(other.pid), *lines[1:]]))

    try:
        postgres.start(log_file=folder / "postgres.log")
        with psycopg.connect(postgres.libpq_url(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        postgres.stop()
        other.kill()
        other.wait()
