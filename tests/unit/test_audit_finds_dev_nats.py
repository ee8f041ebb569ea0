"""cortex-audit (and any tool run beside `make dev`) finds the dev stack's embedded NATS."""

from pathlib import Path

import pytest

from cortex_devstack.stack import running_nats_url

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
