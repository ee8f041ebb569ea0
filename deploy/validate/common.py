"""What every check shares: findings, overlay profiles, the rules' constants, small helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DEPLOY_DIR = Path(__file__).resolve().parents[1]
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

#: A rule's problems: (where, message); the check that runs the rule adds its target.
Problems = Iterator[tuple[str, str]]


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


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(schema: Mapping[str, Any], instance: Any) -> Iterator[tuple[str, str]]:
    """All (path, message) pairs of `instance` against a JSON schema, stable order."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        yield path, error.message


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def kn(obj: Mapping[str, Any]) -> str:
    name = as_dict(obj.get("metadata")).get("name", "?")
    return f"{obj.get('kind', '?')}/{name}"


def load_models(text: str, target: str, where: str) -> tuple[Any, list[Finding]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [Finding(target, where, f"models file is not YAML: {exc}")]
    schema = load_json(DEPLOY_DIR / "schemas" / "models.schema.json")
    found = [Finding(target, f"{where}: {path}", msg) for path, msg in schema_errors(schema, data)]
    return data, found
