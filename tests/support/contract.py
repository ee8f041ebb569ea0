"""schemathesis against the running gateway: its configuration, and clients logged in as the web
UI (cookie + CSRF header) or an API client (bearer key) would be."""

import json
import os
from collections import Counter
from typing import Any

import requests
import schemathesis

from cortex_gateway.app import create_app
from cortex_gateway.settings import Settings
from tests.support.processes import ARTIFACTS
from tests.support.stack import TEST_MODELS

SEED = 20261206
# `make test`: a few examples per operation (the coverage phase adds its own cases on top);
# `make fuzz` sets CORTEX_FUZZ_EXAMPLES for the long run.
EXAMPLES = int(os.environ.get("CORTEX_FUZZ_EXAMPLES", "8"))
COUNTS_FILE = ARTIFACTS / "api-contract-cases.json"
CSRF_COOKIE = "cortex_csrf"

# Statuses a schema-valid request may get besides schemathesis's defaults (2xx, 3xx, 401, 403,
# 404, 409, 429, 5xx): 422 where the request names something that must exist or be the caller's
# own, which no schema can enumerate. Each is tested for itself elsewhere.
REFERENCE_CHECKED = [
    # an opaque cursor: only a previous answer's `next_cursor` is valid
    ("GET", "/v1/chat/sessions"),
    ("GET", "/admin/usage"),
    # `model_name` must be a registered model
    ("POST", "/v1/chat/sessions"),
    ("POST", "/v1/chat/sessions/{session_id}/messages"),
    # `user_id` must be an existing user, `expires_at` in the future
    ("POST", "/admin/keys"),
    # `org_id` must exist; a password equal to the username is refused
    ("POST", "/admin/users"),
    ("POST", "/admin/users/{user_id}/password"),
    # the new password must differ from the current one and from the username
    ("POST", "/auth/password"),
    # every organization named must exist
    ("PUT", "/admin/retention"),
]


def gateway_schema() -> schemathesis.BaseSchema:
    """The document the gateway serves at /openapi.json (test_api_contract checks they are the
    same), built in-process: pytest collects the cases before any stack runs."""
    return schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=config())


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                "no-shrink": True,
                "database": "none",
                # Text never holds NUL: PostgreSQL cannot store one, so the gateway refuses it in
                # every body and filter (422; tests/e2e/test_api_errors.py and the input tests).
                # Schemas say so where they can (a `pattern`), free-form objects cannot.
                "allow-x00": False,
            },
            "checks": {"enabled": True},  # every check, not only `not_a_server_error`
            "request-timeout": 60,
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]
                        }
                    },
                }
                for method, path in REFERENCE_CHECKED
            ]
            + [
                {
                    # The administrator's run registers model servers that do not exist: a
                    # completion for one is a documented 502/503 (unreachable, not healthy).
                    "include-method": "POST",
                    "include-path": "/v1/chat/completions",
                    "checks": {
                        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 502, 503]}
                    },
                }
            ],
        }
    )


class Login:
    """Someone who can log in (again: a case of POST /auth/logout gets a session of its own)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url, self.username, self.password = base_url, username, password
        self.session = self.fresh()

    def fresh(self) -> requests.Session:
        return logged_in(self.base_url, self.username, self.password)


def logged_in(base_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{base_url}/auth/login", json={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = session.cookies[CSRF_COOKIE]
    return session


def with_key(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


class CaseCounter:
    """How many cases each test sent (the figures docs/reliability.md quotes for `make fuzz`)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, test: str) -> None:
        self.counts[test] += 1

    def write(self) -> dict[str, Any]:
        summary = {
            "examples_per_operation": EXAMPLES,
            "seed": SEED,
            "cases": dict(self.counts),
            "total": sum(self.counts.values()),
        }
        COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        COUNTS_FILE.write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def remove_scratch_upstreams(admin: requests.Session, base_url: str) -> None:
    """What the admin run registered goes again: the stack is shared with later tests."""
    known = {model["name"] for model in TEST_MODELS}
    listed = admin.get(f"{base_url}/admin/upstreams", timeout=30).json()["upstreams"]
    for upstream in listed:
        name = upstream["served_model_name"]
        if name not in known:
            admin.delete(f"{base_url}/admin/upstreams/{name}", timeout=30).raise_for_status()
