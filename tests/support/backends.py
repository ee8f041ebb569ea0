"""Real NATS JetStream and PostgreSQL for the tests.

From CORTEX_NATS_URL / CORTEX_DATABASE_URL when set, else testcontainers when a Docker engine
answers, else the embedded binaries that the dev dependencies install. Never a fake, never a skip.
"""

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port


@dataclass(frozen=True)
class Backends:
    nats_url: str
    postgres_url: str  # a server-level URL (database "postgres"), SQLAlchemy form
    source: str


def docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextmanager
def server_dir() -> Iterator[Path]:
    """A folder for embedded servers' data outside pytest's temporary tree. As root, PostgreSQL
    runs as its own OS user, which must be able to enter every parent folder; pytest takes the
    others' permissions off /tmp/pytest-of-<user> whenever a test session starts (another one
    on the same machine, say), and a running server would lose its data folder."""
    with tempfile.TemporaryDirectory(prefix="cortex-servers-") as folder:
        yield Path(folder)


@contextmanager
def start_backends(tmp_dir: Path) -> Iterator[Backends]:
    with ExitStack() as stack:
        # The old names are still accepted, as the services accept them.
        nats_url = os.environ.get("CORTEX_NATS_URL") or os.environ.get("NATS_URL")
        postgres_url = os.environ.get("CORTEX_DATABASE_URL") or os.environ.get("DATABASE_URL")
        source = "environment"
        use_docker = (not nats_url or not postgres_url) and docker_engine_answers()
        if not nats_url:
            if use_docker:
                nats_url = stack.enter_context(_nats_container())
                source = "testcontainers"
            else:
                nats = EmbeddedNats(tmp_dir / "nats", free_port())
                nats.start(log_file=tmp_dir / "nats.log")
                stack.callback(nats.stop)
                nats_url, source = nats.url, "embedded"
        if not postgres_url:
            if use_docker:
                postgres_url = stack.enter_context(_postgres_container())
                source = "testcontainers"
            else:
                postgres = EmbeddedPostgres(tmp_dir / "postgres", free_port())
                postgres.start(log_file=tmp_dir / "postgres.log")
                stack.callback(postgres.stop)
                postgres_url, source = postgres.url("postgres"), "embedded"
        yield Backends(nats_url=nats_url, postgres_url=_sqlalchemy_url(postgres_url), source=source)


@contextmanager
def _nats_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer  # type: ignore[import-untyped]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-untyped]

    with DockerContainer("nats:2.12").with_command("-js").with_exposed_ports(4222) as container:
        wait_for_logs(container, "Server is ready")
        host, port = container.get_container_host_ip(), container.get_exposed_port(4222)
        yield f"nats://{host}:{port}"


@contextmanager
def _postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

    with PostgresContainer("postgres:17", driver="psycopg") as container:
        yield container.get_connection_url()


def _sqlalchemy_url(url: str) -> str:
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A database of its own for this test run, dropped afterwards."""
    name = f"cortex_test_{uuid.uuid4().hex[:12]}"
    admin = libpq_url(with_database(postgres_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
