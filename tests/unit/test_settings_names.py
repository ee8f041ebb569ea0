"""One naming rule for settings, every variable documented, renamed ones still read."""

import logging
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

import cortex_contracts.settings as shared
from cortex_bench.settings import Settings as BenchSettings
from cortex_contracts.services import SERVICES, Service
from cortex_contracts.settings import environment_variables, renamed_variables
from cortex_gateway.settings import Settings as GatewaySettings
from cortex_health.settings import Settings as HealthSettings
from cortex_sessions.settings import Settings as SessionsSettings
from cortex_simulator.settings import Settings as SimulatorSettings
from cortex_usage.settings import Settings as UsageSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "sessions": SessionsSettings,
    "health": HealthSettings,
    "usage": UsageSettings,
    "simulator": SimulatorSettings,
    "bench": BenchSettings,
}
SHARED_BASES = [
    cls
    for cls in vars(shared).values()
    if isinstance(cls, type) and issubclass(cls, BaseSettings) and cls.__module__ == shared.__name__
]


def _shared_variables() -> set[str]:
    return {v for base in SHARED_BASES for v in environment_variables(base)}


def test_every_service_has_settings() -> None:
    assert set(SETTINGS) == {s.name for s in SERVICES}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_variables_follow_the_naming_rule(service: Service) -> None:
    shared_names = _shared_variables()
    service_prefixes = tuple(s.env_prefix for s in SERVICES)
    for variable in environment_variables(SETTINGS[service.name]):
        if variable in shared_names:
            assert variable.startswith("CORTEX_") and not variable.startswith(service_prefixes)
        else:
            assert variable.startswith(service.env_prefix), (
                f"{variable} of {service.name} should be {service.env_prefix}<NAME>"
            )
    assert SETTINGS[service.name].model_fields["port"].default == service.port


def test_readme_lists_every_variable() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CORTEX_[A-Z0-9_]+)` \|", text, re.M))
    for name, settings in SETTINGS.items():
        missing = set(environment_variables(settings)) - documented
        assert not missing, f"README's Configuration table lacks {sorted(missing)} ({name})"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_renamed_variables_name_existing_ones(name: str) -> None:
    variables = set(environment_variables(SETTINGS[name]))
    for old, new in renamed_variables(SETTINGS[name]).items():
        assert new in variables, f"{old} is renamed to {new}, which {name} does not read"
        assert old not in variables


def test_an_old_name_is_read_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SESSIONS_PORT", "9101")
    monkeypatch.setenv("USAGE_QUERY_TIMEOUT_SEC", "7")
    monkeypatch.setenv("SIMULATOR_MODELS", '[{"name": "a", "personality": "openai"}]')
    with caplog.at_level(logging.WARNING, logger="cortex.settings"):
        assert SessionsSettings().port == 9101
        assert UsageSettings().query_timeout_sec == 7
        models = SimulatorSettings().models
    assert models is not None and [m.name for m in models] == ["a"]
    assert "SESSIONS_PORT is renamed CORTEX_SESSIONS_PORT" in caplog.text
    assert "USAGE_QUERY_TIMEOUT_SEC is renamed CORTEX_USAGE_STATEMENT_TIMEOUT_SEC" in caplog.text


def test_the_new_name_wins(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CORTEX_ADMIN_USERNAME", "old-admin")
    monkeypatch.setenv("CORTEX_GATEWAY_ADMIN_USERNAME", "new-admin")
    with caplog.at_level(logging.WARNING, logger="cortex.settings"):
        assert GatewaySettings().admin_username == "new-admin"
    assert "CORTEX_ADMIN_USERNAME is ignored" in caplog.text
