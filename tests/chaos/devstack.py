"""The stack as `make dev` runs it (`cortex-devstack dev`: its supervisor restarts whatever dies,
NATS and PostgreSQL included), on ports and in a folder of its own, plus a second gateway beside
it: the chaos suite's system under test."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import yaml

from cortex_contracts.services import SERVICES, service
from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port
from cortex_devstack.stack import DEV_DATABASE
from tests.support.processes import ARTIFACTS, ServiceProcess, console_script
from tests.support.stack import TEST_MODELS, Stack, base_env

BACKENDS = ("CORTEX_NATS_URL", "NATS_URL", "CORTEX_DATABASE_URL", "DATABASE_URL")
START_SEC = 300.0  # initdb, migrations and every service on a busy shared machine


@dataclass
class DevStack:
    """`cortex-devstack dev` in `root`; `stack` speaks for it to the shared test helpers."""

    root: Path
    env: dict[str, str]
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None
    second_gateway: ServiceProcess | None = None
    log_path: Path = field(default_factory=lambda: ARTIFACTS / "logs" / "chaos-devstack.log")

    @property
    def gateway_urls(self) -> list[str]:
        urls = [f"http://127.0.0.1:{self.ports['gateway']}"]
        if self.second_gateway is not None:
            urls.append(self.second_gateway.url)
        return urls

    @property
    def database_url(self) -> str:
        if "CORTEX_DATABASE_URL" in self.env:
            return self.env["CORTEX_DATABASE_URL"]
        postgres = EmbeddedPostgres(self.root / ".data" / "postgres", self.ports["postgres"])
        return postgres.url(DEV_DATABASE)

    @property
    def nats_url(self) -> str:
        if "CORTEX_NATS_URL" in self.env:
            return self.env["CORTEX_NATS_URL"]
        return EmbeddedNats(self.root / ".data" / "nats", self.ports["nats"]).url

    @property
    def stack(self) -> Stack:
        """The shared helpers' view (create_user, the NATS prefix, the URLs)."""
        env = {**self.env, "CORTEX_DATABASE_URL": self.database_url}
        env.setdefault("CORTEX_NATS_URL", self.nats_url)
        return Stack(env=env, work_dir=self.root)

    def start(self) -> "DevStack":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [console_script("cortex-devstack"), "dev"],
            cwd=self.root,
            # The backends the tests' session uses are not this stack's: embedded ones unless
            # `overrides` named some.
            env={**{k: v for k, v in os.environ.items() if k not in BACKENDS}, **self.env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole afterwards
        )
        for name in ("gateway", "sessions", "usage", "health"):
            self.wait_ready(name)
        self.second_gateway = ServiceProcess("gateway", self.stack.env).start()
        return self

    def wait_ready(self, name: str, timeout: float = START_SEC) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}{service(name).ready_path}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"cortex-devstack exited: see {self.log_path}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{name} not ready after {timeout:g} s: see {self.log_path}")

    def pid_of(self, name: str) -> int:
        """The live process of a supervised child: a service by its console script, or the
        embedded server (`nats-server`, PostgreSQL's postmaster)."""
        assert self.process is not None
        wanted = {"nats": "nats-server", "postgres": "postgres"}.get(name, f"cortex-{name}")
        for child in psutil.Process(self.process.pid).children():
            try:
                command = child.cmdline()
            except psutil.NoSuchProcess:
                continue
            if command and any(Path(part).name == wanted for part in command[:2]):
                return child.pid
        raise LookupError(f"no running {name} under the dev supervisor")

    def stop(self) -> None:
        if self.second_gateway is not None:
            self.second_gateway.stop()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def dev_stack(root: Path, **overrides: str) -> Iterator[DevStack]:
    """A dev stack on free ports in `root` with the tests' fast simulated models."""
    ports = {service.name: free_port() for service in SERVICES}
    ports.update(nats=free_port(), postgres=free_port())
    simulator = f"http://127.0.0.1:{ports['simulator']}"
    models_file = root / "models.yaml"
    models_file.write_text(yaml.safe_dump({"upstreams": [
        {"served_model_name": model["name"], "base_url": f"{simulator}/m/{model['name']}",
         "engine_type": model["personality"]}
        for model in TEST_MODELS
    ]}))  # fmt: skip
    env = {
        **base_env(nats_url="", database_url=""),  # the tests' settings (fast health checks...)
        **{service.port_variable: str(ports[service.name]) for service in SERVICES},
        "CORTEX_DEV_NATS_PORT": str(ports["nats"]),
        "CORTEX_DEV_PG_PORT": str(ports["postgres"]),
        "CORTEX_SIMULATOR_MODELS": json.dumps(TEST_MODELS),
        "CORTEX_GATEWAY_MODELS_FILE": str(models_file),
        # A hanging model server is cut after this long (the default waits 5 minutes).
        "CORTEX_GATEWAY_UPSTREAM_READ_TIMEOUT_SEC": "5",
        **overrides,
    }
    for variable in BACKENDS:  # embedded ones unless `overrides` name some
        if not env.get(variable):
            env.pop(variable, None)
    running = DevStack(root=root, env=env, ports=ports)
    try:
        yield running.start()
    finally:
        running.stop()
