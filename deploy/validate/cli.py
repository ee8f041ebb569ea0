"""`python -m deploy.validate`: every check, or those named by --only."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

from .common import KUBERNETES_VERSION, PROFILES, REPO_ROOT, Finding
from .compose import validate_compose
from .docker import validate_dockerfiles
from .kustomize import validate_overlay

DESCRIPTION = (
    "Offline validation of the deployment files: compose, Kustomize overlays, Dockerfiles."
)


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
    parser = argparse.ArgumentParser(prog="python -m deploy.validate", description=DESCRIPTION)
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
