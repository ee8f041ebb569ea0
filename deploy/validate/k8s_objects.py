"""Reading rendered Kubernetes objects: pods of workloads, selectors, probes, and an index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .common import Obj, as_dict, as_list

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def pod_spec(obj: Obj) -> Obj:
    return as_dict(as_dict(as_dict(obj.get("spec")).get("template")).get("spec"))


def pod_labels(obj: Obj) -> dict[str, str]:
    template = as_dict(as_dict(obj.get("spec")).get("template"))
    return {
        str(k): str(v) for k, v in as_dict(as_dict(template.get("metadata")).get("labels")).items()
    }


def containers(pod: Obj, *, init: bool = True) -> list[Obj]:
    items = as_list(pod.get("containers"))
    if init:
        items = as_list(pod.get("initContainers")) + items
    return [c for c in items if isinstance(c, dict)]


def selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    """Label selector semantics (matchLabels + matchExpressions); empty selects all."""
    match_labels = as_dict(selector.get("matchLabels"))
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    for expr in as_list(selector.get("matchExpressions")):
        expr = as_dict(expr)
        key, op = str(expr.get("key")), expr.get("operator")
        values = {str(v) for v in as_list(expr.get("values"))}
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


def probe_key(probe: Obj) -> str:
    if "httpGet" in probe:
        http = as_dict(probe["httpGet"])
        return f"http {http.get('port')} {http.get('path', '/')}"
    if "exec" in probe:
        return "exec " + " ".join(map(str, as_list(as_dict(probe["exec"]).get("command"))))
    if "tcpSocket" in probe:
        return f"tcp {as_dict(probe['tcpSocket']).get('port')}"
    if "grpc" in probe:
        return f"grpc {as_dict(probe['grpc']).get('port')}"
    return "unknown"


def image_ok(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def name_of(obj: Obj) -> str:
    return str(as_dict(obj.get("metadata")).get("name"))


@dataclass
class Objects:
    """The rendered objects of one overlay, indexed the ways the rules look them up."""

    objects: Sequence[Obj]
    by_kind: dict[str, list[Obj]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_kind = {}
        for obj in self.all:
            self.by_kind.setdefault(str(obj.get("kind")), []).append(obj)

    @property
    def all(self) -> list[Obj]:
        return [o for o in self.objects if isinstance(o, dict)]

    def kind(self, kind: str) -> list[Obj]:
        return self.by_kind.get(kind, [])

    def named(self, kind: str, name: str) -> Obj | None:
        return next((o for o in self.kind(kind) if name_of(o) == name), None)

    @property
    def workloads(self) -> list[Obj]:
        return [o for k in WORKLOAD_KINDS for o in self.kind(k)]

    @property
    def long_running(self) -> list[Obj]:
        return [o for k in ("Deployment", "StatefulSet") for o in self.kind(k)]

    @property
    def config_maps(self) -> dict[str, Obj]:
        return {name_of(o): as_dict(o.get("data")) for o in self.kind("ConfigMap")}

    @property
    def autoscalers(self) -> dict[str, Obj]:
        """HorizontalPodAutoscalers by the name of what they scale."""
        return {
            str(as_dict(as_dict(h.get("spec")).get("scaleTargetRef")).get("name")): h
            for h in self.kind("HorizontalPodAutoscaler")
        }

    def selecting(self, kind: str, labels: Mapping[str, str], path: str = "selector") -> list[Obj]:
        """Objects of `kind` whose spec.<path> selects pods with these labels."""
        return [
            o
            for o in self.kind(kind)
            if selector_matches(as_dict(as_dict(o.get("spec")).get(path)), labels)
        ]
