"""The deployment files validate (deploy/validate), and broken copies are caught."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy import validate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _messages(findings: list) -> str:
    return "\n".join(str(f) for f in findings)


# --- the real files ---------------------------------------------------------------------


def test_compose_file_is_valid() -> None:
    findings = validate.validate_compose()
    assert findings == [], _messages(findings)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_renders_and_validates(overlay: str) -> None:
    findings = validate.validate_overlay(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    assert findings == [], _messages(findings)


def test_dockerfiles_are_valid() -> None:
    findings = validate.validate_dockerfiles()
    assert findings == [], _messages(findings)


def test_overlays_differ_as_documented() -> None:
    dev = validate.render_overlay(ROOT / "deploy" / "k8s" / "overlays" / "dev")
    prod = validate.render_overlay(ROOT / "deploy" / "k8s" / "overlays" / "prod")

    def kinds(objs: list) -> set[str]:
        return {f"{o['kind']}/{o['metadata']['name']}" for o in objs}

    assert "Deployment/simulator" in kinds(dev)
    assert "Deployment/simulator" not in kinds(prod)
    assert "Cluster/cortex-pg" in kinds(prod)
    config = next(o for o in prod if o["metadata"]["name"].startswith("cortex-config"))
    assert config["data"]["CORTEX_STREAM_REPLICAS"] == "3"
    for objs in (dev, prod):
        assert not [o for o in objs if o["kind"] == "Secret"]


MODELS_FILES = [
    "deploy/compose/models.yaml",
    "deploy/k8s/base/models.yaml",
    "deploy/k8s/overlays/dev/models.yaml",
    "deploy/k8s/overlays/prod/models.yaml",
]


@pytest.mark.parametrize("path", MODELS_FILES)
def test_models_files_match_the_contract(path: str) -> None:
    """deploy/schemas/models.schema.json mirrors the contract; check the real model too."""
    import yaml

    from cortex_contracts.events.models import Upstream

    data = yaml.safe_load((ROOT / path).read_text())
    for entry in data["upstreams"]:
        Upstream.model_validate(entry)
    assert validate.load_models((ROOT / path).read_text(), "t", path)[1] == []


# --- broken copies must be reported ------------------------------------------------------


@pytest.fixture()
def repo_copy(tmp_path: Path) -> Path:
    """A scratch repository: deploy/ copied (editable), the rest linked."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(ROOT / "deploy", root / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("services", "libs", "web", "pyproject.toml"):
        if (ROOT / name).exists():
            (root / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / ".dockerignore", root / ".dockerignore")
    return root


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def _k8s(repo: Path, overlay: str = "dev") -> list:
    return validate.validate_overlay(repo / "deploy" / "k8s" / "overlays" / overlay)


def test_copy_is_valid_before_breaking_it(repo_copy: Path) -> None:
    assert validate.validate_all(repo_copy) == []


def test_replicas_of_wrong_type_is_reported(repo_copy: Path) -> None:
    _edit(repo_copy / "deploy/k8s/base/sessions.yaml", "replicas: 2", 'replicas: "two"')
    text = _messages(_k8s(repo_copy))
    assert re.search(r"Deployment/sessions: spec\.replicas: schema: 'two' is not of type", text)


def test_unknown_field_in_manifest_is_reported(repo_copy: Path) -> None:
    _edit(repo_copy / "deploy/k8s/base/usage.yaml", "livenessProbe:", "livenesProbe:")
    text = _messages(_k8s(repo_copy, "prod"))
    assert "'livenesProbe' was unexpected" in text
    assert "needs both a livenessProbe and a readinessProbe" in text


def test_compose_unknown_key_is_reported(repo_copy: Path) -> None:
    compose = repo_copy / "deploy/compose/compose.yaml"
    _edit(compose, "  sessions:\n", "  sessions:\n    colour: blue\n")
    text = _messages(validate.validate_compose(compose))
    assert "services.sessions" in text and "'colour' was unexpected" in text


def test_compose_lint_is_reported(repo_copy: Path) -> None:
    compose = repo_copy / "deploy/compose/compose.yaml"
    _edit(
        compose,
        "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in deploy/compose/.env}\n",
        "POSTGRES_PASSWORD: hunter2\n",
    )
    _edit(compose, '      - "3001:8084"', '      - "3002:8084"')
    _edit(
        compose,
        "        condition: service_completed_successfully",
        "        condition: service_started",
    )
    (repo_copy / "deploy/compose/.env.example").write_text("POSTGRES_PASSWORD=hunter2\n")
    text = _messages(validate.validate_compose(compose))
    assert "POSTGRES_PASSWORD: secret given inline" in text
    assert "missing 3001:8084" in text
    assert "needs service_completed_successfully" in text
    assert "POSTGRES_PASSWORD has a value" in text
    assert "CORTEX_ADMIN_PASSWORD used by compose.yaml is not documented" in text


def test_bad_models_file_is_reported(repo_copy: Path) -> None:
    models = repo_copy / "deploy/compose/models.yaml"
    _edit(models, "engine_type: vllm", "engine: vllm")
    text = _messages(validate.validate_compose(repo_copy / "deploy/compose/compose.yaml"))
    assert "'engine' was unexpected" in text


MUTATIONS: list[tuple[str, str, str, str, str]] = [
    # (overlay, file, old, new, expected message)
    (
        "dev",
        "base/gateway.yaml",
        "              path: /readyz",
        "              path: /healthz",
        "liveness and readiness probes are identical",
    ),
    (
        "dev",
        "base/health.yaml",
        "              memory: 384Mi\n",
        "",
        "resources.limits.memory is missing",
    ),
    (
        "prod",
        "base/usage.yaml",
        "            allowPrivilegeEscalation: false\n",
        "",
        "allowPrivilegeEscalation is not false",
    ),
    (
        "prod",
        "base/nats.conf",
        "  sync_interval: always\n",
        "",
        "sync_interval: always",
    ),
    (
        "prod",
        "overlays/prod/kustomization.yaml",
        "CORTEX_STREAM_REPLICAS=3",
        "CORTEX_STREAM_REPLICAS=1",
        "CORTEX_STREAM_REPLICAS=1, expected 3",
    ),
    (
        "prod",
        "overlays/prod/postgres-cluster.yaml",
        "  instances: 3",
        '  instances: "three"',
        "Cluster/cortex-pg: spec.instances: schema (cnpg-cluster.schema.json)",
    ),
    (
        "prod",
        "overlays/prod/postgres-cluster.yaml",
        "  storage:",
        "  storag:",
        "'storag' was unexpected",
    ),
    (
        "prod",
        "overlays/prod/patches/gateway-hpa.yaml",
        "minReplicas: 3",
        "minReplicas: 1",
        "Deployment/gateway: 1 replica(s), at least 2 required",
    ),
    (
        "dev",
        "base/ingress.yaml",
        'proxy-buffering: "off"',
        'proxy-buffering: "on"',
        "proxy-buffering",
    ),
    (
        "dev",
        "base/sessions.yaml",
        "  selector:\n    app.kubernetes.io/name: sessions\n  ports:",
        "  selector:\n    app.kubernetes.io/name: session\n  ports:",
        "Service/sessions: selector {'app.kubernetes.io/name': 'session'} selects no",
    ),
    (
        "dev",
        "base/sessions.yaml",
        "key: DATABASE_URL",
        "key: DB_PASSWORD",
        "secretKeyRef cortex-secrets/DB_PASSWORD is not allowed",
    ),
    (
        "dev",
        "base/sessions.yaml",
        "              containerPort: 8085",
        "              containerPort: 8095",
        "must listen on sessions's port 8085 (services table)",
    ),
    (
        "dev",
        "overlays/dev/kustomization.yaml",
        "  - name: cortex/usage\n    newTag: dev",
        "  - name: cortex/usage\n    newTag: latest",
        "needs a pinned tag",
    ),
]


@pytest.mark.parametrize(
    ("overlay", "file", "old", "new", "expected"),
    MUTATIONS,
    ids=[m[4][:40] for m in MUTATIONS],
)
def test_broken_manifest_is_reported(
    repo_copy: Path, overlay: str, file: str, old: str, new: str, expected: str
) -> None:
    _edit(repo_copy / "deploy/k8s" / file, old, new)
    assert expected in _messages(_k8s(repo_copy, overlay))


def test_sessions_may_not_reach_model_servers(repo_copy: Path) -> None:
    policies = repo_copy / "deploy/k8s/base/networkpolicies.yaml"
    text = policies.read_text()
    sessions = text.index("name: sessions")
    end = text.index("---", sessions)
    extra = (
        "    - to:\n        - namespaceSelector: {}\n          podSelector:\n"
        '            matchLabels:\n              cortex.io/model-server: "true"\n'
    )
    policies.write_text(text[:end] + extra + text[end:])
    assert "Deployment/sessions: egress allowed to model-servers, not needed" in _messages(
        _k8s(repo_copy)
    )


def test_inline_secret_is_reported(repo_copy: Path) -> None:
    overlay = repo_copy / "deploy/k8s/overlays/dev"
    (overlay / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cortex-secrets\n"
        "stringData:\n  CORTEX_ADMIN_PASSWORD: hunter2\n"
    )
    _edit(
        overlay / "kustomization.yaml",
        "  - simulator.yaml\n",
        "  - simulator.yaml\n  - secret.yaml\n",
    )
    assert "Secret/cortex-secrets: Secret with inline data" in _messages(_k8s(repo_copy))


def test_unknown_custom_resource_is_reported(repo_copy: Path) -> None:
    overlay = repo_copy / "deploy/k8s/overlays/dev"
    (overlay / "crd.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n"
    )
    _edit(
        overlay / "kustomization.yaml", "  - simulator.yaml\n", "  - simulator.yaml\n  - crd.yaml\n"
    )
    assert "Couldn't find schema for kind Widget" in _messages(_k8s(repo_copy))


SERVICE_DOCKERFILE = "deploy/docker/service.Dockerfile"
DOCKER_MUTATIONS: list[tuple[str, str, str, str]] = [
    (SERVICE_DOCKERFILE, "USER 10001:10001", "USER root", "non-root USER"),
    (SERVICE_DOCKERFILE, "HEALTHCHECK --", "# HEALTHCHECK --", "HEALTHCHECK"),
    (SERVICE_DOCKERFILE, "RUN npm run build", "RUN npm run lint", "npm run build"),
    (SERVICE_DOCKERFILE, "--package cortex-${SERVICE}", "--all-packages", "--package"),
    (SERVICE_DOCKERFILE, "FROM service AS gateway", "FROM service AS gw", "'gateway'"),
    ("deploy/docker/migrate.Dockerfile", "USER 10001:10001", "USER 0", "non-root USER"),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), DOCKER_MUTATIONS)
def test_broken_dockerfile_is_reported(
    repo_copy: Path, file: str, old: str, new: str, expected: str
) -> None:
    _edit(repo_copy / file, old, new)
    findings = validate.validate_dockerfiles(repo_copy)
    assert any(expected in str(f) and file in str(f) for f in findings), _messages(findings)


def test_compose_builds_each_service_from_the_table(repo_copy: Path) -> None:
    compose = repo_copy / "deploy/compose/compose.yaml"
    _edit(
        compose, 'args: { SERVICE: usage, PORT: "8087" }', 'args: { SERVICE: usage, PORT: "8088" }'
    )
    assert "services.usage.build.args: PORT must be 8087" in _messages(
        validate.validate_compose(compose)
    )


def test_cli_exit_status(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main: Callable[[list[str]], int] = validate.main
    assert main(["--repo-root", str(repo_copy), "--only", "compose"]) == 0
    _edit(repo_copy / "deploy/compose/compose.yaml", "  usage:\n", "  usage:\n    bogus: 1\n")
    assert main(["--repo-root", str(repo_copy), "--only", "compose"]) == 1
    assert "'bogus' was unexpected" in capsys.readouterr().out
