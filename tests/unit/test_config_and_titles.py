import subprocess

import pytest

from cortex_contracts.events.chat import UNTITLED, title_from_message
from tests.support.processes import console_script

pytestmark = pytest.mark.unit


def test_title_is_first_line_trimmed() -> None:
    assert title_from_message("\n   What is Python?  \nMore text") == "What is Python?"


def test_long_title_is_cut_at_a_word_boundary() -> None:
    title = title_from_message("word " * 40)
    assert title.endswith("…")
    assert len(title) <= 61
    assert "wor…" not in title


def test_empty_message_keeps_placeholder_title() -> None:
    assert title_from_message("   \n  ") == UNTITLED


def test_health_refuses_ttl_not_longer_than_poll_interval() -> None:
    result = subprocess.run(
        [console_script("cortex-health")],
        env={
            "CORTEX_HEALTH_POLL_SEC": "15",
            "CORTEX_HEALTH_CHECK_TTL_SEC": "15",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert (
        "CORTEX_HEALTH_CHECK_TTL_SEC (15) must be greater than CORTEX_HEALTH_POLL_SEC (15)"
        in lines[0]
    )


def test_gateway_refuses_a_non_postgres_database_url() -> None:
    result = subprocess.run(
        [console_script("cortex-gateway")],
        env={"DATABASE_URL": "mysql://x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
