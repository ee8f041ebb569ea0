"""Kubernetes rules beyond the schemas: every workload's pods, probes, replicas and secrets.

`lint_k8s` runs every rule of this module, of k8s_network.py (Services, Ingress,
NetworkPolicies) and of k8s_cluster.py (NATS, shared settings, what each overlay contains).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cortex_contracts.services import BY_NAME

from .common import (
    EXTERNAL_SECRET,
    EXTERNAL_SECRET_KEYS,
    MIN_REPLICAS,
    NAME_LABEL,
    PROBE_PATHS,
    Finding,
    Obj,
    Problems,
    Profile,
    as_dict,
    as_list,
    kn,
)
from .k8s_cluster import lint_nats, lint_overlay_content, lint_shared_config
from .k8s_network import lint_ingress, lint_network_policies, lint_selectors
from .k8s_objects import (
    Objects,
    containers,
    image_ok,
    name_of,
    pod_labels,
    pod_spec,
    probe_key,
)


def lint_k8s(objects: Sequence[Obj], profile: Profile, target: str) -> list[Finding]:
    """Rules beyond the schemas. See the package docstring and docs/deploy.md."""
    objs = Objects(objects)
    rules: list[Callable[[Objects], Problems]] = [
        lint_namespace,
        lint_secrets,
        lint_autoscalers,
        lint_pods,
        lint_probes,
        lint_replicas,
        lint_selectors,
        lint_ingress,
        lint_network_policies,
        lint_nats,
    ]
    problems = [problem for rule in rules for problem in rule(objs)]
    problems += lint_shared_config(objs, profile)
    problems += lint_overlay_content(objs, profile, target)
    return [Finding(target, where, message) for where, message in problems]


def lint_namespace(objs: Objects) -> Problems:
    """Everything namespaced lives in the overlay's namespace, which is declared."""
    namespaces = {name_of(o) for o in objs.kind("Namespace")}
    if len(namespaces) != 1:
        yield "Namespace", f"expected exactly one Namespace object, got {sorted(namespaces)}"
    for obj in objs.all:
        if obj.get("kind") == "Namespace":
            continue
        ns = as_dict(obj.get("metadata")).get("namespace")
        if ns not in namespaces:
            yield kn(obj), f"namespace {ns!r} is not the overlay's namespace"


def lint_secrets(objs: Objects) -> Problems:
    """No Secret object at all: the manifests only reference the external one."""
    for obj in objs.kind("Secret"):
        if obj.get("data") or obj.get("stringData"):
            yield kn(obj), "Secret with inline data: reference the existing Secret instead"
        else:
            yield kn(obj), f"Secret objects are not rendered; use {EXTERNAL_SECRET}"


def lint_autoscalers(objs: Objects) -> Problems:
    for target_name, hpa in objs.autoscalers.items():
        ref = as_dict(as_dict(hpa.get("spec")).get("scaleTargetRef"))
        if objs.named(str(ref.get("kind")), target_name) is None:
            yield kn(hpa), f"scaleTargetRef {ref.get('kind')}/{target_name} does not exist"


def lint_pods(objs: Objects) -> Problems:
    """Resources, non-root, pinned images, and references to existing config and secrets."""
    config_maps = objs.config_maps
    for obj in objs.workloads:
        where = kn(obj)
        pod = pod_spec(obj)
        for container in containers(pod):
            yield from _lint_container(
                container, pod, f"{where}: container {container.get('name')}"
            )
            yield from _lint_references(
                container, config_maps, f"{where}: container {container.get('name')}"
            )
        for volume in as_list(pod.get("volumes")):
            cm = as_dict(as_dict(volume).get("configMap")).get("name")
            if cm is not None and cm not in config_maps:
                yield where, f"volume references missing ConfigMap {cm}"
            if "secret" in as_dict(volume):
                secret_name = as_dict(as_dict(volume)["secret"]).get("secretName")
                if secret_name != EXTERNAL_SECRET:
                    yield where, f"volume references Secret {secret_name}"


def _lint_container(container: Obj, pod: Obj, where: str) -> Problems:
    res = as_dict(container.get("resources"))
    for part in ("requests", "limits"):
        values = as_dict(res.get(part))
        for resource_name in ("cpu", "memory"):
            if resource_name not in values:
                yield where, f"resources.{part}.{resource_name} is missing"
    pod_sc = as_dict(pod.get("securityContext"))
    c_sc = as_dict(container.get("securityContext"))
    if c_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        yield where, "runAsNonRoot is not true"
    if c_sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
        yield where, "runs as uid 0"
    if c_sc.get("allowPrivilegeEscalation") is not False:
        yield where, "allowPrivilegeEscalation is not false"
    image = str(container.get("image", ""))
    if not image_ok(image):
        yield where, f"image {image!r} needs a pinned tag (not latest) or digest"


def _lint_references(container: Obj, config_maps: dict[str, Obj], where: str) -> Problems:
    for env in as_list(container.get("env")):
        value_from = as_dict(as_dict(env).get("valueFrom"))
        ref = as_dict(value_from.get("secretKeyRef"))
        if ref and (
            ref.get("name") != EXTERNAL_SECRET or ref.get("key") not in EXTERNAL_SECRET_KEYS
        ):
            yield where, f"secretKeyRef {ref.get('name')}/{ref.get('key')} is not allowed"
        cm_ref = as_dict(value_from.get("configMapKeyRef"))
        if cm_ref and cm_ref.get("name") not in config_maps:
            yield where, f"configMapKeyRef to missing ConfigMap {cm_ref.get('name')}"
    for env_from in as_list(container.get("envFrom")):
        cm = as_dict(as_dict(env_from).get("configMapRef")).get("name")
        if cm is not None and cm not in config_maps:
            yield where, f"envFrom references missing ConfigMap {cm}"
        if as_dict(as_dict(env_from).get("secretRef")).get("name") is not None:
            yield where, "envFrom secretRef exposes every key; use secretKeyRef"


def lint_probes(objs: Objects) -> Problems:
    """Both probes, different from each other; a Cortex service's on its ops paths and port."""
    for obj in objs.long_running:
        app = pod_labels(obj).get(NAME_LABEL, name_of(obj))
        service = BY_NAME.get(app)
        for container in containers(pod_spec(obj), init=False):
            where = f"{kn(obj)}: container {container.get('name')}"
            listens = {as_dict(p).get("containerPort") for p in as_list(container.get("ports"))}
            if service is not None and service.port not in listens:
                yield where, f"must listen on {app}'s port {service.port} (services table)"
            live = as_dict(container.get("livenessProbe"))
            ready = as_dict(container.get("readinessProbe"))
            if not live or not ready:
                yield where, "needs both a livenessProbe and a readinessProbe"
                continue
            if probe_key(live) == probe_key(ready):
                yield where, "liveness and readiness probes are identical; use different checks"
            if service is None or not service.ops:
                continue
            for kind, probe in (("liveness", live), ("readiness", ready)):
                path = as_dict(probe.get("httpGet")).get("path")
                if path != PROBE_PATHS[kind]:
                    yield where, f"{kind}Probe must GET {PROBE_PATHS[kind]}, not {path}"


def lint_replicas(objs: Objects) -> Problems:
    """Minimum replicas (the HPA's minimum when there is one), the gateway's HPA, PDBs."""
    autoscalers = objs.autoscalers
    for obj in objs.long_running:
        where, name = kn(obj), name_of(obj)
        app = pod_labels(obj).get(NAME_LABEL, name)
        replicas = as_dict(obj.get("spec")).get("replicas", 1)
        scaler = autoscalers.get(name)
        if scaler is not None:
            replicas = as_dict(scaler.get("spec")).get("minReplicas", 1)
        if not isinstance(replicas, int):
            continue  # already a schema error
        minimum = MIN_REPLICAS.get(app)
        if minimum is not None and replicas < minimum:
            yield where, f"{replicas} replica(s), at least {minimum} required"
        if name == "gateway" and scaler is None:
            yield where, "the gateway needs a HorizontalPodAutoscaler"
        if replicas >= 2 and not objs.selecting("PodDisruptionBudget", pod_labels(obj)):
            yield where, "has 2+ replicas but no PodDisruptionBudget"
