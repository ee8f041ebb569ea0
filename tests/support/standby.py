"""A real streaming standby of an embedded PostgreSQL primary, for tests of replica reads.

`streaming_pair()` starts a primary of its own, copies it with `pg_basebackup -R -X stream`
into a standby folder and starts that as a hot standby that replays the primary's WAL as it
comes. Replay can be paused and resumed on the standby: a paused standby still receives the
WAL but shows the primary as it was at the pause, which makes replica lag deterministic
without any timing. Both servers are stopped afterwards, whatever happens.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cortex_devstack.embedded import (
    POSTGRES_OS_USER,
    EmbeddedPostgres,
    EmbeddedServerError,
    password_file,
    postgres_bin_dir,
)
from cortex_devstack.ports import free_port
from tests.support.backends import server_dir
from tests.support.processes import ServiceProcess

# How long a helper waits for the standby before it gives up with an error: generous, since a
# loaded test machine may be slow; the tests assert nothing about durations.
STANDBY_PATIENCE_SEC = 60.0
POLL_SEC = 0.05
REPLICATION_FROM_LOCALHOST = "host replication all 127.0.0.1/32 scram-sha-256"


@dataclass(frozen=True)
class StreamingPair:
    primary: EmbeddedPostgres
    standby: EmbeddedPostgres

    def create_database(self, name: str) -> None:
        """A database on the primary (CREATE DATABASE is WAL-logged), once the standby has it."""
        self.primary.create_database(name)
        self.wait_until_replayed()

    def standby_rows(self, database: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.standby.libpq_url(database), autocommit=True) as conn:
            return conn.execute(query, params or None).fetchall()

    def pause_replay(self) -> None:
        """Stop applying WAL on the standby; returns once replay has actually stopped."""
        with psycopg.connect(self.standby.libpq_url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            _poll(
                lambda: _scalar(conn, "SELECT pg_get_wal_replay_pause_state()") == "paused",
                "the standby's replay did not pause",
            )

    def resume_replay(self) -> None:
        with psycopg.connect(self.standby.libpq_url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """The standby lags behind everything written inside; replay resumes on the way out."""
        self.pause_replay()
        try:
            yield
        finally:
            self.resume_replay()

    def wait_until_replayed(self) -> None:
        """Until the standby has replayed all the primary had written when this was called."""
        with psycopg.connect(self.primary.libpq_url(), autocommit=True) as primary:
            target = _scalar(primary, "SELECT pg_current_wal_lsn()")
        with psycopg.connect(self.standby.libpq_url(), autocommit=True) as standby:
            _poll(
                lambda: bool(
                    _scalar(standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target)
                ),
                f"the standby did not replay up to {target}",
            )


@contextmanager
def streaming_pair() -> Iterator[StreamingPair]:
    """A running primary and its running streaming standby, both stopped on the way out."""
    with server_dir() as folder, ExitStack() as running:
        primary = EmbeddedPostgres(folder / "primary", free_port())
        primary.start(log_file=folder / "primary.log")
        running.callback(primary.stop)
        _allow_replication_from_localhost(primary)
        standby_dir = folder / "standby"
        _base_backup(primary, standby_dir)
        # With the primary's password file (its roles came with the copy) start() does not try
        # to set a password: a standby is read-only.
        shutil.copy(password_file(primary.data_dir), password_file(standby_dir))
        standby = EmbeddedPostgres(standby_dir, free_port())
        standby.start(log_file=folder / "standby.log")
        running.callback(standby.stop)  # callbacks run last-in first-out: the standby first
        yield StreamingPair(primary=primary, standby=standby)


def _allow_replication_from_localhost(primary: EmbeddedPostgres) -> None:
    """initdb's pg_hba.conf lets replication in from 127.0.0.1; a rewritten one may not."""
    with psycopg.connect(primary.libpq_url(), autocommit=True) as conn:
        hba_file = Path(str(_scalar(conn, "SHOW hba_file")))
        allowed = _scalar(
            conn,
            "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
            " AND type = 'host' AND address = '127.0.0.1'",
        )
        if not allowed:
            with hba_file.open("a") as hba:
                hba.write(REPLICATION_FROM_LOCALHOST + "\n")
            conn.execute("SELECT pg_reload_conf()")


def _base_backup(primary: EmbeddedPostgres, standby_dir: Path) -> None:
    """Copy the primary into `standby_dir`, with standby.signal and primary_conninfo (-R)."""
    # postgres refuses root: as root the standby runs, and so must be copied, as its own user,
    # which the primary's start() has created.
    os_user = POSTGRES_OS_USER if os.geteuid() == 0 else None
    standby_dir.mkdir(mode=0o700)
    standby_dir.chmod(0o700)  # postgres refuses a data folder others can read
    if os_user is not None:
        shutil.chown(standby_dir, user=os_user, group=os_user)
    command = [
        str(postgres_bin_dir() / "pg_basebackup"),
        "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        "-D", str(standby_dir), "-R", "-X", "stream",
        "--checkpoint=fast",  # else it waits for a spread checkpoint
        "--no-sync",  # a test's copy need not survive a power cut
    ]  # fmt: skip
    copied = subprocess.run(
        command,
        env={**os.environ, "PGPASSWORD": primary.password},
        user=os_user,
        cwd=standby_dir.parent,  # the OS user may not enter the test's working folder
        capture_output=True,
        text=True,
        check=False,
    )
    if copied.returncode != 0:
        raise EmbeddedServerError(f"pg_basebackup failed: {copied.stderr.strip()}")


def _scalar(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params or None).fetchone()
    return None if row is None else row[0]


def _poll(holds: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + STANDBY_PATIENCE_SEC
    while not holds():
        if time.monotonic() > deadline:
            raise EmbeddedServerError(failure)
        time.sleep(POLL_SEC)


def answered_by(sessions: ServiceProcess) -> dict[str, float]:
    """Reads answered so far by each database ("replica", "primary"), from the sessions
    service's cortex_sessions_replica_reads_total."""
    metrics = httpx.get(sessions.url + "/metrics", timeout=5).text
    prefix = "cortex_sessions_replica_reads_total{"
    return {
        line.split('"')[1]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }
