"""Kubernetes rules about the cluster as a whole: the NATS StatefulSet and its configuration,
the shared settings (cortex-config), and what each overlay (PROFILES) must contain."""

from __future__ import annotations

import re

from .common import NAME_LABEL, Obj, Problems, Profile, as_dict, as_list, kn, load_models
from .k8s_objects import Objects, name_of, pod_labels, pod_spec


def _nats(objs: Objects) -> list[Obj]:
    return [s for s in objs.kind("StatefulSet") if pod_labels(s).get(NAME_LABEL) == "nats"]


def lint_nats(objs: Objects) -> Problems:
    """One NATS StatefulSet behind a headless Service, fsync on every write, routes that
    match its replicas."""
    nats = _nats(objs)
    if len(nats) != 1:
        yield "StatefulSet/nats", f"expected one NATS StatefulSet, got {len(nats)}"
        return
    sts = nats[0]
    spec = as_dict(sts.get("spec"))
    replicas = spec.get("replicas", 1)
    service_name = str(spec.get("serviceName"))
    if not any(
        name_of(s) == service_name and as_dict(s.get("spec")).get("clusterIP") == "None"
        for s in objs.kind("Service")
    ):
        yield kn(sts), f"serviceName {service_name!r} is not a headless Service"
    config_maps = objs.config_maps
    conf_text = ""
    for volume in as_list(pod_spec(sts).get("volumes")):
        cm_name = str(as_dict(as_dict(volume).get("configMap")).get("name"))
        if "nats.conf" in config_maps.get(cm_name, {}):
            conf_text = str(config_maps[cm_name]["nats.conf"])
    if not conf_text:
        yield kn(sts), "no ConfigMap volume with nats.conf"
        return
    js = re.search(r"jetstream\s*\{([^}]*)\}", conf_text)
    js_body = js.group(1) if js else ""
    if not re.search(r"^\s*store_dir\s*:", js_body, re.M):
        yield "nats.conf", "jetstream block needs store_dir"
    if not re.search(r"^\s*sync_interval\s*:\s*always\s*$", js_body, re.M):
        yield "nats.conf", "jetstream needs `sync_interval: always` (fsync every write)"
    routes = set(re.findall(r"nats://([A-Za-z0-9.-]+):6222", conf_text))
    wanted = (
        {f"nats-{i}.{service_name}" for i in range(replicas)}
        if isinstance(replicas, int)
        else set()
    )
    if routes != wanted:
        yield "nats.conf", f"cluster routes {sorted(routes)} != {sorted(wanted)}"


def lint_shared_config(objs: Objects, profile: Profile) -> Problems:
    """cortex-config: the profile's stream replicas (no more than NATS servers), and a
    health TTL longer than the poll interval."""
    settings = next((v for k, v in objs.config_maps.items() if k.startswith("cortex-config")), None)
    if settings is None:
        yield "ConfigMap/cortex-config", "missing"
        return
    stream_replicas = str(settings.get("CORTEX_STREAM_REPLICAS", ""))
    if stream_replicas != str(profile.stream_replicas):
        yield (
            "ConfigMap/cortex-config",
            f"CORTEX_STREAM_REPLICAS={stream_replicas or '(unset)'}, "
            f"expected {profile.stream_replicas}",
        )
    nats = _nats(objs)
    replicas = as_dict(nats[0].get("spec")).get("replicas", 1) if len(nats) == 1 else None
    if isinstance(replicas, int) and stream_replicas.isdigit() and int(stream_replicas) > replicas:
        yield "ConfigMap/cortex-config", "more stream replicas than NATS servers"
    try:
        poll = float(settings.get("CORTEX_HEALTH_POLL_SEC", "15"))
        ttl = float(settings.get("CORTEX_HEALTH_CHECK_TTL_SEC", "20"))
    except ValueError:
        yield "ConfigMap/cortex-config", "the health poll interval and TTL are not numbers"
    else:
        if ttl <= poll:
            yield "ConfigMap/cortex-config", "the health TTL must exceed the poll interval"


def lint_overlay_content(objs: Objects, profile: Profile, target: str) -> Problems:
    """The simulator in dev only, a CloudNativePG Cluster where the profile wants one, and
    models files that match the contract."""
    has_simulator = objs.named("Deployment", "simulator") is not None
    if has_simulator != profile.simulator:
        yield "Deployment/simulator", "present" if has_simulator else "missing"
    clusters = objs.kind("Cluster")
    if profile.cnpg_instances is None:
        if clusters:
            yield "Cluster", "this overlay should not contain a CloudNativePG Cluster"
    elif not clusters:
        yield "Cluster", "a CloudNativePG Cluster is required"
    for cluster in clusters:
        instances = as_dict(cluster.get("spec")).get("instances")
        if isinstance(instances, int) and instances < (profile.cnpg_instances or 1):
            yield kn(cluster), f"{instances} instance(s), {profile.cnpg_instances} required"
    for name, data in objs.config_maps.items():
        if "models.yaml" in data:
            findings = load_models(str(data["models.yaml"]), target, f"ConfigMap/{name}")[1]
            yield from ((f.where, f.message) for f in findings)
