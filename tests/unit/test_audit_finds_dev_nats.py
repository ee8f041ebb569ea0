"""cortex-audit (and any tool run beside `make dev`) finds the dev stack's embedded NATS and
PostgreSQL."""

from pathlib import Path

import pytest

from cortex_devstack.stack import running_database_url, running_nats_url
from cortex_runtime.config import dev_stack_env

pytestmark = pytest.mark.unit


def test_the_running_dev_stacks_nats_is_found_with_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "nats-password").write_text("s3cret\n")
    monkeypatch.setenv("CORTEX_DEV_NATS_PORT", "15555")

    assert running_nats_url(tmp_path) == "nats://cortex:s3cret@127.0.0.1:15555"


def test_no_dev_stack_started_here_means_no_url(tmp_path: Path) -> None:
    assert running_nats_url(tmp_path) is None
    assert not (tmp_path / ".data").exists(), "looking must not create a password"


def test_the_running_dev_stacks_database_is_found_with_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "postgres-password").write_text("pg-s3cret\n")
    monkeypatch.setenv("CORTEX_DEV_PG_PORT", "15999")

    assert (
        running_database_url(tmp_path)
        == "postgresql+psycopg://postgres:pg-s3cret@127.0.0.1:15999/cortex"
    )


def test_console_commands_take_the_dev_stack_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cortex-sessions rebuild`, `cortex-usage verify`, ... beside `make dev`."""
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "nats-password").write_text("n\n")
    (tmp_path / ".data" / "postgres-password").write_text("p\n")
    monkeypatch.delenv("CORTEX_NATS_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("CORTEX_DATABASE_URL", "postgresql://elsewhere/db")

    found = dev_stack_env(tmp_path)

    assert found["CORTEX_NATS_URL"].startswith("nats://cortex:n@127.0.0.1:")
    assert "CORTEX_DATABASE_URL" not in found, "an explicit setting wins"
