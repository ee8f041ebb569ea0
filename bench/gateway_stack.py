"""The processes of the gateway benchmark: embedded NATS and PostgreSQL, the simulator, the
health and usage services, and one gateway per entry of GATEWAY_WORKERS; an API key to call them."""

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port

GATEWAY_WORKERS = (1, 2)  # CORTEX_GATEWAY_WORKERS of the two gateways compared
MODEL = "bench-vllm"
MODEL_SPEC = {
    "name": MODEL,
    "personality": "vllm",
    "max_context": 8192,
    "ttft_ms": 80,
    "itl_ms": 15,
    "output_tokens": 120,
}


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@dataclass
class Gateway:
    workers: int
    url: str
    pid: int  # the main process; with several workers, their parent


@dataclass
class Services:
    simulator_url: str
    gateways: list[Gateway]
    admin_password: str


@contextmanager
def services(work: Path) -> Iterator[Services]:
    with ExitStack() as stack:
        nats = EmbeddedNats(work / "nats", free_port())
        nats.start(log_file=work / "nats.log")
        stack.callback(nats.stop)
        postgres = EmbeddedPostgres(work / "postgres", free_port())
        postgres.start(log_file=work / "postgres.log")
        stack.callback(postgres.stop)
        postgres.create_database("bench")
        ports = {name: free_port() for name in ("simulator", "health", "usage")}
        simulator_url = f"http://127.0.0.1:{ports['simulator']}"
        models_file = work / "models.yaml"
        models_file.write_text(
            json.dumps(
                {
                    "upstreams": [
                        {
                            "served_model_name": MODEL,
                            "base_url": f"{simulator_url}/m/{MODEL}",
                            "engine_type": "vllm",
                        }
                    ]
                }
            )
        )
        password = secrets.token_urlsafe(16) + "A1!"
        env = {
            **os.environ,
            "CORTEX_NATS_URL": nats.url,
            "CORTEX_DATABASE_URL": postgres.url("bench"),
            "CORTEX_NATS_PREFIX": "bench",
            "CORTEX_GATEWAY_MODELS_FILE": str(models_file),
            "CORTEX_GATEWAY_ADMIN_PASSWORD": password,
            "CORTEX_SIMULATOR_MODELS": json.dumps([MODEL_SPEC]),
            "CORTEX_HEALTH_POLL_SEC": "2",
            "CORTEX_HEALTH_CHECK_TTL_SEC": "10",
            "CORTEX_HEALTH_PROBE_TIMEOUT_SEC": "1",
            "CORTEX_LOG_LEVEL": "WARNING",
            "CORTEX_SIMULATOR_LOG_LEVEL": "warning",
            "CORTEX_GATEWAY_HOST": "127.0.0.1",
            "CORTEX_SIMULATOR_PORT": str(ports["simulator"]),
            "CORTEX_HEALTH_PORT": str(ports["health"]),
            "CORTEX_HEALTH_HOST": "127.0.0.1",
            "CORTEX_USAGE_PORT": str(ports["usage"]),
            "CORTEX_USAGE_HOST": "127.0.0.1",
        }
        for service in ("gateway", "usage"):
            subprocess.run([bin_path(f"cortex-{service}"), "migrate"], env=env, check=True)
        for service in ("simulator", "health", "usage"):
            process = _start(stack, work, service, env)
            path = "/healthz" if service == "simulator" else "/readyz"
            _wait_ready(f"http://127.0.0.1:{ports[service]}{path}", process, service)
        gateways = []
        for workers in GATEWAY_WORKERS:
            port = free_port()
            gateway_env = {
                **env,
                "CORTEX_GATEWAY_PORT": str(port),
                "CORTEX_GATEWAY_WORKERS": str(workers),
            }
            process = _start(stack, work, "gateway", gateway_env, f"gateway-{workers}w")
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url + "/readyz", process, f"gateway with {workers} workers")
            gateways.append(Gateway(workers=workers, url=url, pid=process.pid))
        yield Services(simulator_url=simulator_url, gateways=gateways, admin_password=password)


def _start(
    stack: ExitStack, work: Path, service: str, env: dict[str, str], label: str | None = None
) -> subprocess.Popen[bytes]:
    log = open(work / f"{label or service}.log", "ab")  # noqa: SIM115 - the child keeps it
    stack.callback(log.close)
    process = subprocess.Popen(
        [bin_path(f"cortex-{service}")], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], service: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{service} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{service} not ready")


async def api_key(services: Services) -> str:
    async with httpx.AsyncClient(base_url=services.gateways[0].url, timeout=30) as admin:
        login = await admin.post(
            "/auth/login", json={"username": "admin", "password": services.admin_password}
        )
        login.raise_for_status()
        admin.headers["X-CSRF-Token"] = admin.cookies["cortex_csrf"]
        password = secrets.token_urlsafe(16) + "A1!"
        user = await admin.post(
            "/admin/users", json={"username": "bench-user", "password": password}
        )
        user.raise_for_status()
        key = await admin.post("/admin/keys", json={"user_id": user.json()["id"], "name": "bench"})
        key.raise_for_status()
        return str(key.json()["key"])
