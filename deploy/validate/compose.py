"""The compose file: the Compose Specification schema, then rules the schema cannot express."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cortex_contracts.services import BY_NAME, MIGRATING, SERVICES, Service

from .common import (
    DEPLOY_DIR,
    Finding,
    Obj,
    Problems,
    as_dict,
    as_list,
    load_models,
    schema_errors,
)
from .docker import image_target

# --------------------------------------------------------------------------------------
# compose


def compose_schema() -> Any:
    """The Compose Specification schema vendored by check-jsonschema."""
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text(encoding="utf-8"))


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?([^}]*)\}")
_SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY")


def _parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def _port_pairs(ports: Iterable[Any]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for port in ports:
        if isinstance(port, dict):
            pairs.add((str(port.get("published", "")), str(port.get("target", ""))))
            continue
        parts = str(port).split(":")
        if len(parts) >= 2:
            pairs.add((parts[-2], parts[-1].split("/")[0]))
    return pairs


def validate_compose(compose_file: Path | None = None) -> list[Finding]:
    """Schema + lint of a compose file (default deploy/compose/compose.yaml)."""
    compose_file = compose_file or DEPLOY_DIR / "compose" / "compose.yaml"
    target = "compose"
    where = compose_file.name
    try:
        text = compose_file.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        return [Finding(target, where, f"cannot read: {exc}")]
    if not isinstance(data, dict):
        return [Finding(target, where, "not a YAML mapping")]
    found = [
        Finding(target, f"{where}: {path}", f"schema: {msg}")
        for path, msg in schema_errors(compose_schema(), data)
    ]
    found += lint_compose(data, text, compose_file)
    return found


def lint_compose(data: Obj, text: str, compose_file: Path) -> list[Finding]:
    """Rules the compose schema cannot express."""
    services = as_dict(data.get("services"))
    base = compose_file.parent
    problems = [
        *_lint_service_set(services),
        *(
            p
            for name, svc in services.items()
            for p in _lint_service(name, as_dict(svc), services, base)
        ),
        *_lint_infrastructure(services),
        *_lint_variables(text, base),
        *_lint_models_file(services, base),
    ]
    return [Finding("compose", where, message) for where, message in problems]


def _one_shots(services: Obj) -> set[str]:
    return {n for n, s in services.items() if str(as_dict(s).get("restart", "")) == "no"}


def _lint_service_set(services: Obj) -> Problems:
    expected = {"nats", "postgres", "migrate", *(s.name for s in SERVICES)}
    for missing in sorted(expected - services.keys()):
        yield "services", f"missing service {missing!r}"


def _lint_service(name: str, svc: Obj, services: Obj, base: Path) -> Problems:
    """Healthcheck, start order, build, bind mounts and inline secrets of one service."""
    where = f"services.{name}"
    one_shot = _one_shots(services)
    health = as_dict(svc.get("healthcheck"))
    if name not in one_shot and (not health.get("test") or health.get("disable")):
        yield where, "long-running service without a healthcheck"
    deps = svc.get("depends_on", {})
    dep_items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
    for dep, cond_raw in dep_items:
        cond = as_dict(cond_raw).get("condition", "service_started")
        if dep not in services:
            yield where, f"depends_on unknown service {dep!r}"
        elif dep in one_shot and cond != "service_completed_successfully":
            yield where, f"depends_on one-shot {dep!r} needs service_completed_successfully"
        elif dep not in one_shot and cond != "service_healthy":
            yield where, f"depends_on {dep!r} should wait for service_healthy"
    if name in {s.name for s in MIGRATING} and "migrate" not in (
        deps if isinstance(deps, (dict, list)) else ()
    ):
        yield where, "must depend on the migrate one-shot"
    build = svc.get("build")
    if name in BY_NAME:
        yield from _lint_service_build(BY_NAME[name], as_dict(build), where)
    if isinstance(build, dict):
        context = (base / str(build.get("context", "."))).resolve()
        dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
        if not dockerfile.is_file():
            yield where, f"build dockerfile not found: {dockerfile}"
    for volume in as_list(svc.get("volumes")):
        source = str(volume).split(":")[0] if isinstance(volume, str) else ""
        if source.startswith((".", "/")) and not (base / source).exists():
            yield where, f"bind mount source does not exist: {source}"
    env = svc.get("environment", {})
    for key, value in env.items() if isinstance(env, dict) else ():
        if _SECRET_KEY.search(str(key)) and "${" not in str(value):
            yield f"{where}.environment.{key}", "secret given inline, use ${VAR:?...}"
        if key.endswith("DATABASE_URL") and "@" in str(value) and "${" not in str(value):
            yield f"{where}.environment.{key}", "password given inline, use ${VAR:?...}"


def _lint_service_build(service: Service, build: Obj, where: str) -> Problems:
    """A service's image is built from the one service Dockerfile with its name and port."""
    if build.get("dockerfile") != "deploy/docker/service.Dockerfile":
        yield f"{where}.build", "must use deploy/docker/service.Dockerfile"
    raw_args = build.get("args", {})
    args = (
        {str(k): str(v) for k, v in raw_args.items()}
        if isinstance(raw_args, dict)
        else dict(str(a).partition("=")[::2] for a in as_list(raw_args))
    )
    for key, value in {"SERVICE": service.name, "PORT": str(service.port)}.items():
        if args.get(key) != value:
            yield f"{where}.build.args", f"{key} must be {value}"
    if build.get("target") != image_target(service):
        yield f"{where}.build", f"target must be {image_target(service)!r}"


def _lint_infrastructure(services: Obj) -> Problems:
    """The gateway's two published ports, JetStream on disk, PostgreSQL 17."""
    port = str(BY_NAME["gateway"].port)
    pairs = _port_pairs(as_list(as_dict(services.get("gateway")).get("ports")))
    for pair in ((port, port), ("3001", port)):
        if pair not in pairs:
            yield "services.gateway.ports", f"missing {pair[0]}:{pair[1]}"
    nats_cmd = " ".join(map(str, as_list(as_dict(services.get("nats")).get("command"))))
    if "-js" not in nats_cmd.split() or "-sd" not in nats_cmd.split():
        yield "services.nats.command", "JetStream needs -js and a store dir (-sd)"
    pg_image = str(as_dict(services.get("postgres")).get("image", ""))
    if not pg_image.startswith("postgres:17"):
        yield "services.postgres.image", f"expected PostgreSQL 17, got {pg_image!r}"


def _lint_variables(text: str, base: Path) -> Problems:
    """Variables compose reads are documented in .env.example; secrets are required, never
    given a value there."""
    env_example = base / ".env.example"
    example = _parse_env_file(env_example) if env_example.is_file() else {}
    if not env_example.is_file():
        yield ".env.example", "missing"
    for match in _INTERPOLATION.finditer(text):
        var, op = match.group(1), match.group(2) or ""
        if var not in example:
            yield ".env.example", f"variable {var} used by compose.yaml is not documented"
        if "?" not in op and _SECRET_KEY.search(var):
            yield "compose.yaml", f"secret {var} must be required (${{{var}:?...}})"
    for key, value in example.items():
        if _SECRET_KEY.search(key) and value:
            yield ".env.example", f"{key} has a value; leave secrets empty"


def _lint_models_file(services: Obj, base: Path) -> Problems:
    """The models file mounted into the gateway: the contract, and hosts that are services."""
    models = base / "models.yaml"
    if not models.is_file():
        return
    models_data, findings = load_models(
        models.read_text(encoding="utf-8"), "compose", "models.yaml"
    )
    yield from ((f.where, f.message) for f in findings)
    for i, up in enumerate(as_list(as_dict(models_data).get("upstreams"))):
        host = re.sub(r"^https?://([^:/]+).*$", r"\1", str(as_dict(up).get("base_url", "")))
        local = host in services or host in {"localhost", "127.0.0.1"}
        if not local and "." not in host:
            yield f"models.yaml: upstreams.{i}", f"host {host!r} is not a compose service"
