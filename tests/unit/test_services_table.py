"""The table of services (cortex_contracts.services) is the one the docs and the stack show."""

import re
from pathlib import Path

import pytest

from cortex_contracts.services import MIGRATING, SERVICES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _readme_ports() -> dict[str, tuple[int, str]]:
    """README's port table: service name -> (port, setting)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Ports") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| (\w+)[^|]*\| (\d+) \| `(\w+)` \|$", section, re.M)
    return {name: (int(port), setting) for name, port, setting in rows}


def test_readme_port_table_matches_the_services_table() -> None:
    documented = _readme_ports()
    for service in SERVICES:
        assert documented.get(service.name) == (service.port, service.port_variable), (
            f"README's Ports table disagrees with cortex_contracts.services on {service.name}"
        )


def test_every_service_is_a_workspace_member_with_its_console_script() -> None:
    for service in SERVICES:
        pyproject = (ROOT / "services" / service.name / "pyproject.toml").read_text()
        assert f'name = "{service.package}"' in pyproject
        assert f"{service.package} = " in pyproject


def test_migrations_run_gateway_first() -> None:
    assert [s.name for s in MIGRATING] == ["gateway", "sessions", "usage"]
