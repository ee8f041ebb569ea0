"""The whole system as real processes behind one NATS prefix and one fresh database."""

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml
from argon2 import PasswordHasher

from cortex_contracts.services import MIGRATING
from tests.support.backends import libpq_url
from tests.support.processes import ServiceProcess, run_command

# Fast simulated models, so that tests do not wait on made-up latency.
TEST_MODELS = [
    {"name": "sim-vllm-small", "personality": "vllm", "max_context": 8192,
     "ttft_ms": 20, "itl_ms": 2, "output_tokens": 40},
    {"name": "sim-llamacpp-large", "personality": "llamacpp", "max_context": 131072,
     "slots": 4, "ttft_ms": 30, "itl_ms": 3, "output_tokens": 50},
]  # fmt: skip
WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"  # served by the gateway


def base_env(nats_url: str, database_url: str) -> dict[str, str]:
    return {
        "CORTEX_NATS_URL": nats_url,
        "CORTEX_DATABASE_URL": database_url,
        "CORTEX_NATS_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        # Several partitions, so every test runs the partitioned projection (docs/scaling.md).
        "CORTEX_CHAT_PARTITIONS": "6",
        "CORTEX_GATEWAY_ADMIN_USERNAME": "admin",
        "CORTEX_GATEWAY_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "CORTEX_HEALTH_POLL_SEC": "1",
        "CORTEX_HEALTH_CHECK_TTL_SEC": "3",
        "CORTEX_HEALTH_PROBE_TIMEOUT_SEC": "0.5",
        "CORTEX_USAGE_ROLLUP_INTERVAL_SEC": "0.5",
        "CORTEX_USAGE_ROLLUP_SETTLE_SEC": "1",
        "CORTEX_LOG_LEVEL": "INFO",
        "CORTEX_GATEWAY_WEB_DIST": str(WEB_DIST),
    }


@contextmanager
def running_stack(env: dict[str, str], work_dir: Path) -> Iterator["Stack"]:
    """Every service of the stack on a migrated database, stopped afterwards (also when a
    service fails to start)."""
    migrate(env)
    running = Stack(env=dict(env), work_dir=work_dir)
    try:
        yield running.start()
    finally:
        running.stop()


def migrate(env: dict[str, str]) -> None:
    for service in MIGRATING:
        result = run_command(service.name, "migrate", env)
        if result.returncode != 0:
            raise RuntimeError(f"{service.name} migrate failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class Stack:
    env: dict[str, str]
    work_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    extras: list[ServiceProcess] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return self.processes["gateway"].url

    @property
    def simulator_url(self) -> str:
        return self.processes["simulator"].url

    @property
    def admin_password(self) -> str:
        return self.env["CORTEX_GATEWAY_ADMIN_PASSWORD"]

    @property
    def database_url(self) -> str:
        return self.env["CORTEX_DATABASE_URL"]

    def start(self) -> "Stack":
        simulator = ServiceProcess(
            "simulator", {**self.env, "CORTEX_SIMULATOR_MODELS": json.dumps(TEST_MODELS)}
        ).start()
        self.processes["simulator"] = simulator
        models_file = self.work_dir / "models.yaml"
        models_file.write_text(yaml.safe_dump({"upstreams": [
            {"served_model_name": model["name"],
             "base_url": f"{simulator.url}/m/{model['name']}",
             "engine_type": model["personality"]}
            for model in TEST_MODELS
        ]}))  # fmt: skip
        self.env["CORTEX_GATEWAY_MODELS_FILE"] = str(models_file)
        for service in ("sessions", "usage", "health", "gateway"):
            self.processes[service] = ServiceProcess(service, self.env).start()
        # the benchmark load goes through this gateway; engine gauges sampled often (short runs)
        self.env["CORTEX_BENCH_GATEWAY_URL"] = self.gateway_url
        self.env["CORTEX_BENCH_METRICS_INTERVAL_SEC"] = "0.2"
        self.processes["bench"] = ServiceProcess("bench", self.env).start()
        return self

    def start_extra(self, service: str, **overrides: str) -> ServiceProcess:
        """Another replica (or a replacement) of a service, sharing the stack's NATS and DB."""
        process = ServiceProcess(service, {**self.env, **overrides}).start()
        self.extras.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.extras, *reversed(self.processes.values())]:
            process.stop()

    def create_user(self, username: str | None = None, role: str = "user") -> tuple[str, str]:
        """A user straight in the database (fast fixture); returns (username, password)."""
        username = username or f"user-{uuid.uuid4().hex[:10]}"
        password = secrets.token_urlsafe(12)
        with psycopg.connect(libpq_url(self.database_url)) as conn:
            org_id = conn.execute("SELECT id FROM orgs WHERE name = 'default'").fetchone()
            assert org_id is not None, "the gateway creates the default org at start"
            conn.execute(
                "INSERT INTO users (id, username, password_hash, role, org_id, disabled,"
                " created_at) VALUES (%s, %s, %s, %s, %s, false, now())",
                (str(uuid.uuid4()), username, PasswordHasher().hash(password), role, org_id[0]),
            )
        return username, password
