"""What `make dev` exposes: the embedded NATS and PostgreSQL want the password generated on their
first start (and keep it across restarts), and the services listen on loopback only."""

from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
from nats.errors import Error as NatsError

from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres, password_file
from cortex_devstack.ports import free_port
from cortex_devstack.stack import Backends, backends, service_env
from tests.support.backends import server_dir

pytestmark = pytest.mark.integration


@pytest.fixture
def server_folder() -> Iterator[Path]:
    with server_dir() as folder:
        yield folder


async def test_embedded_nats_refuses_clients_without_its_password(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats", free_port())
    server.start(log_file=tmp_path / "nats.log")
    try:
        for anonymous in (
            f"nats://127.0.0.1:{server.port}",
            f"nats://cortex:x@127.0.0.1:{server.port}",
        ):
            with pytest.raises(NatsError):
                await nats.connect(anonymous, allow_reconnect=False, connect_timeout=2)
        server.stop()
        server.start(log_file=tmp_path / "nats.log")  # the same password after a restart
        client = await nats.connect(server.url, allow_reconnect=False, connect_timeout=5)
        try:
            await client.jetstream().add_stream(name="exposure", subjects=["exposure.>"])
            ack = await client.jetstream().publish("exposure.one", b"kept")
            assert ack.seq == 1
        finally:
            await client.close()
    finally:
        server.stop()
    assert (password_file(server.data_dir).stat().st_mode & 0o077) == 0  # only we can read it


def test_embedded_postgres_refuses_logins_without_its_password(server_folder: Path) -> None:
    tmp_path = server_folder  # outside pytest's tree: see server_dir
    server = EmbeddedPostgres(tmp_path / "postgres", free_port())
    server.start(log_file=tmp_path / "postgres.log")
    try:
        for anonymous in (
            f"postgresql://postgres@127.0.0.1:{server.port}/postgres",
            f"postgresql://postgres:wrong@127.0.0.1:{server.port}/postgres",
        ):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(anonymous, connect_timeout=5).close()
        server.stop()
        server.start(log_file=tmp_path / "postgres.log")  # the same password after a restart
        server.create_database("kept")
        with psycopg.connect(server.libpq_url("kept"), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    finally:
        server.stop()
    assert (password_file(server.data_dir).stat().st_mode & 0o077) == 0


def test_dev_services_listen_on_loopback_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = Backends(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1:2/x")
    names = [f"CORTEX_{name}_HOST" for name in ("GATEWAY", "SESSIONS", "HEALTH", "USAGE")]
    for variable in names:
        monkeypatch.delenv(variable, raising=False)
    env = service_env(tmp_path, tmp_path / ".data", found)
    assert {env[name] for name in names} == {"127.0.0.1"}

    monkeypatch.setenv("CORTEX_GATEWAY_HOST", "0.0.0.0")  # a developer's explicit choice stays
    assert service_env(tmp_path, tmp_path / ".data", found)["CORTEX_GATEWAY_HOST"] == "0.0.0.0"


def test_dev_stack_uses_given_servers_instead_of_embedded_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_NATS_URL", "nats://ci-nats:4222")
    monkeypatch.setenv("CORTEX_DATABASE_URL", "postgresql://ci@ci-postgres:5432/cortex")
    with backends(tmp_path / ".data", tmp_path) as found:
        assert found == Backends("nats://ci-nats:4222", "postgresql://ci@ci-postgres:5432/cortex")
    assert not (tmp_path / ".data").exists()  # nothing embedded was started


def test_a_password_less_dev_database_from_before_gets_a_password(server_folder: Path) -> None:
    tmp_path = server_folder  # outside pytest's tree: see server_dir
    server = EmbeddedPostgres(tmp_path / "postgres", free_port())
    server.start(log_file=tmp_path / "postgres.log")
    server.stop()
    # What older versions left in .data/: everyone trusted, no password file.
    (server.data_dir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    password_file(server.data_dir).unlink()
    server.start(log_file=tmp_path / "postgres.log")
    try:
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{server.port}/postgres", connect_timeout=5
            ).close()
        with psycopg.connect(server.libpq_url(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
