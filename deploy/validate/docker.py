"""Dockerfiles: a structural lint of the service image (once per service) and the migrate image."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cortex_contracts.services import MIGRATING, SERVICES, Service

from .common import REPO_ROOT, Finding

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
