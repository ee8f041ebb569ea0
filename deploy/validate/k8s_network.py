"""Kubernetes traffic rules: Services and PDBs select real pods, the Ingress suits long SSE
streams, and NetworkPolicies allow exactly the egress each workload needs (EGRESS)."""

from __future__ import annotations

import json

from .common import EGRESS, MODEL_SERVER_LABEL, NAME_LABEL, Obj, Problems, as_dict, as_list, kn
from .k8s_objects import Objects, containers, pod_labels, pod_spec, selector_matches


def lint_selectors(objs: Objects) -> Problems:
    """Every Service and PodDisruptionBudget selects a Deployment/StatefulSet."""
    pod_sets = [(kn(o), pod_labels(o), pod_spec(o)) for o in objs.long_running]
    for svc in objs.kind("Service"):
        spec = as_dict(svc.get("spec"))
        selector = {str(k): str(v) for k, v in as_dict(spec.get("selector")).items()}
        pods = [
            pod
            for _, labels, pod in pod_sets
            if selector and all(labels.get(k) == v for k, v in selector.items())
        ]
        if not pods:
            yield kn(svc), f"selector {selector} selects no Deployment/StatefulSet"
            continue
        port_names = {
            str(as_dict(p).get("name"))
            for pod in pods
            for c in containers(pod, init=False)
            for p in as_list(c.get("ports"))
        }
        for port in as_list(spec.get("ports")):
            target_port = as_dict(port).get("targetPort", as_dict(port).get("port"))
            if isinstance(target_port, str) and target_port not in port_names:
                yield kn(svc), f"targetPort {target_port!r} is not a container port name"
    for pdb in objs.kind("PodDisruptionBudget"):
        selector = as_dict(as_dict(pdb.get("spec")).get("selector"))
        if not any(selector_matches(selector, labels) for _, labels, _ in pod_sets):
            yield kn(pdb), "selector selects no Deployment/StatefulSet"


def lint_ingress(objs: Objects) -> Problems:
    """SSE-friendly nginx settings, and backends that are real Service ports."""
    ingresses = objs.kind("Ingress")
    if not ingresses:
        yield "Ingress", "no Ingress"
    for ing in ingresses:
        ann = as_dict(as_dict(ing.get("metadata")).get("annotations"))
        if ann.get("nginx.ingress.kubernetes.io/proxy-buffering") != "off":
            yield kn(ing), "needs nginx.ingress.kubernetes.io/proxy-buffering: 'off' for SSE"
        for key in ("proxy-read-timeout", "proxy-send-timeout"):
            value = str(ann.get(f"nginx.ingress.kubernetes.io/{key}", "60"))
            if not value.isdigit() or int(value) < 300:
                yield kn(ing), f"{key} must be at least 300 seconds for long streams"
        for rule in as_list(as_dict(ing.get("spec")).get("rules")):
            for path in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
                backend = as_dict(as_dict(as_dict(path).get("backend")).get("service"))
                yield from _lint_backend(objs, ing, backend)


def _lint_backend(objs: Objects, ing: Obj, backend: Obj) -> Problems:
    backend_svc = objs.named("Service", str(backend.get("name")))
    if backend_svc is None:
        yield kn(ing), f"backend Service {backend.get('name')} does not exist"
        return
    port = as_dict(backend.get("port"))
    ports = as_list(as_dict(backend_svc.get("spec")).get("ports"))
    if not any(
        as_dict(p).get("name") == port.get("name")
        if "name" in port
        else as_dict(p).get("port") == port.get("number")
        for p in ports
    ):
        yield kn(ing), f"backend port {port} is not a port of {kn(backend_svc)}"


def lint_network_policies(objs: Objects) -> Problems:
    """Every pod's ingress is restricted; its egress matches EGRESS exactly."""
    for obj in objs.workloads:
        labels = pod_labels(obj)
        selecting = objs.selecting("NetworkPolicy", labels, path="podSelector")
        types = {
            str(t) for p in selecting for t in as_list(as_dict(p.get("spec")).get("policyTypes"))
        }
        if "Ingress" not in types:
            yield kn(obj), "no NetworkPolicy restricts its ingress"
        expected = EGRESS.get(labels.get(NAME_LABEL, ""))
        if expected is None:
            continue
        if "Egress" not in types:
            yield kn(obj), "no NetworkPolicy restricts its egress"
            continue
        classes = _egress_classes(selecting)
        allowed_external = bool(expected & {"postgresql", "model-servers"})
        extra = classes - expected - ({"external"} if allowed_external else set())
        missing = expected - classes
        # An external PostgreSQL replaces the in-cluster one (ipBlock rule).
        if "external" in classes:
            missing -= {"postgresql", "model-servers"}
        for item in sorted(extra):
            yield kn(obj), f"egress allowed to {item}, not needed"
        for item in sorted(missing):
            yield kn(obj), f"egress to {item} is not allowed"


def _egress_classes(policies: list[Obj]) -> set[str]:
    """Where the egress rules of these policies lead, by destination class."""
    classes: set[str] = set()
    for policy in policies:
        spec = as_dict(policy.get("spec"))
        if "Egress" not in as_list(spec.get("policyTypes")):
            continue
        for rule in as_list(spec.get("egress")):
            peers = as_list(as_dict(rule).get("to"))
            if not peers:
                classes.add("anywhere (egress rule without `to`)")
            classes.update(egress_class(as_dict(p)) for p in peers)
    return classes


def egress_class(peer: Obj) -> str:
    """Classify one NetworkPolicy egress peer."""
    if "ipBlock" in peer:
        return "external"
    peer_labels = as_dict(as_dict(peer.get("podSelector")).get("matchLabels"))
    ns_labels = as_dict(as_dict(peer.get("namespaceSelector")).get("matchLabels"))
    if peer_labels.get("k8s-app") == "kube-dns" and (
        ns_labels.get("kubernetes.io/metadata.name") == "kube-system"
    ):
        return "dns"
    if str(peer_labels.get(MODEL_SERVER_LABEL)) == "true":
        return "model-servers"
    if "namespaceSelector" not in peer and peer_labels.get(NAME_LABEL):
        return str(peer_labels[NAME_LABEL])
    return f"unrecognised peer {json.dumps(peer, sort_keys=True)}"
