"""`make dev`: embedded servers (unless CORTEX_NATS_URL / CORTEX_DATABASE_URL are given),
migrations, services."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cortex_contracts.services import MIGRATING, SERVICES, service
from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres, password_file
from cortex_devstack.ports import port_is_free
from cortex_devstack.supervisor import Supervisor, TeePrinter

# In development every service listens on loopback only, unless told otherwise (the images and
# manifests set their own hosts: a container must listen on all of its interfaces).
HOST_VARIABLES = tuple(s.host_variable for s in SERVICES)
DEV_HOST = "127.0.0.1"
DEV_DATABASE = "cortex"


@dataclass(frozen=True)
class Backends:
    nats_url: str
    database_url: str
    # The servers started here, by name: the supervisor restarts them when they die.
    embedded: dict[str, EmbeddedNats | EmbeddedPostgres] = field(default_factory=dict)


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@contextmanager
def backends(data_dir: Path, log_dir: Path) -> Iterator[Backends]:
    """The user's NATS/PostgreSQL when their URLs are set, else embedded ones under `data_dir`."""
    embedded: dict[str, EmbeddedNats | EmbeddedPostgres] = {}
    with ExitStack() as stack:
        nats_url = _given("CORTEX_NATS_URL", "NATS_URL")
        if not nats_url:
            nats = EmbeddedNats(data_dir / "nats", _dev_port("CORTEX_DEV_NATS_PORT", 14222))
            nats.start(log_file=log_dir / "nats.log")
            stack.callback(nats.stop)
            nats_url, embedded["nats"] = nats.url, nats
            print(
                f"devstack | embedded NATS JetStream at 127.0.0.1:{nats.port}"
                f" (user {nats.user}, password in {password_file(nats.data_dir)})",
                flush=True,
            )
        database_url = _given("CORTEX_DATABASE_URL", "DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(
                data_dir / "postgres", _dev_port("CORTEX_DEV_PG_PORT", 15432)
            )
            postgres.start(log_file=log_dir / "postgres.log")
            stack.callback(postgres.stop)
            embedded["postgres"] = postgres
            postgres.create_database(DEV_DATABASE)
            database_url = postgres.url(DEV_DATABASE)
            print(
                f"devstack | embedded PostgreSQL at 127.0.0.1:{postgres.port}/{DEV_DATABASE}"
                f" (user postgres, password in {password_file(postgres.data_dir)})",
                flush=True,
            )
        yield Backends(nats_url=nats_url, database_url=database_url, embedded=embedded)


def running_nats_url(root: Path) -> str | None:
    """The embedded NATS of a `make dev` started in `root`, for tools run beside it (its URL
    with the generated password); None when that stack was never started here."""
    nats = EmbeddedNats(root / ".data" / "nats", int(os.environ.get("CORTEX_DEV_NATS_PORT", 14222)))
    return nats.url if password_file(nats.data_dir).exists() else None


def running_database_url(root: Path) -> str | None:
    """The embedded PostgreSQL of a `make dev` started in `root` (its `cortex` database, with the
    generated password); None when that stack was never started here."""
    postgres = EmbeddedPostgres(
        root / ".data" / "postgres", int(os.environ.get("CORTEX_DEV_PG_PORT", 15432))
    )
    return postgres.url(DEV_DATABASE) if password_file(postgres.data_dir).exists() else None


def _given(variable: str, old_name: str) -> str | None:
    """A URL the user set, under its name or its old name (still read for one release)."""
    value = os.environ.get(variable)
    if not value and os.environ.get(old_name):
        print(f"devstack | {old_name} is renamed {variable}", flush=True)
        value = os.environ[old_name]
    return value or None


def _dev_port(variable: str, default: int) -> int:
    port = int(os.environ.get(variable, default))
    if not port_is_free(port):
        raise SystemExit(
            f"devstack: port {port} is taken (another `make dev`?). Set {variable} to a free port."
        )
    return port


def service_env(root: Path, data_dir: Path, found: Backends) -> dict[str, str]:
    env = dict(os.environ)
    for variable in HOST_VARIABLES:
        env.setdefault(variable, DEV_HOST)
    env.update(
        CORTEX_NATS_URL=found.nats_url,
        CORTEX_DATABASE_URL=found.database_url,
        CORTEX_GATEWAY_MODELS_FILE=env.get(
            "CORTEX_GATEWAY_MODELS_FILE", str(root / "deploy/local/models.yaml")
        ),
        CORTEX_GATEWAY_ADMIN_PASSWORD_FILE=str(data_dir / "admin-password"),
        CORTEX_GATEWAY_WEB_DIST=env.get("CORTEX_GATEWAY_WEB_DIST", str(root / "web/dist")),
        CORTEX_BENCH_GATEWAY_URL=env.get(  # the benchmark load goes through this gateway
            "CORTEX_BENCH_GATEWAY_URL",
            f"http://127.0.0.1:{env.get('CORTEX_GATEWAY_PORT', service('gateway').port)}",
        ),
        PYTHONUNBUFFERED="1",
    )
    return env


def announce_when_ready(env: dict[str, str]) -> None:
    """Once the gateway answers, print where to go and how to log in."""
    url = f"http://127.0.0.1:{service('gateway').port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        return
    password_file = Path(env["CORTEX_GATEWAY_ADMIN_PASSWORD_FILE"])
    if "CORTEX_GATEWAY_ADMIN_PASSWORD" in env:
        password = "(your CORTEX_GATEWAY_ADMIN_PASSWORD)"
    elif password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = "(set before the data folder existed; reset it with the admin API)"
    print(
        f"\n  Chat Playground ready: {url}/chat\n"
        f"  login: {env.get('CORTEX_GATEWAY_ADMIN_USERNAME', 'admin')} / {password}\n",
        flush=True,
    )


def run_dev(root: Path) -> int:
    data_dir = root / ".data"
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with backends(data_dir, log_dir) as found:
        env = service_env(root, data_dir, found)
        for migrating in MIGRATING:
            subprocess.run([bin_path(migrating.package), "migrate"], env=env, check=True)
        threading.Thread(target=announce_when_ready, args=(env,), daemon=True).start()
        names = [*found.embedded, *(s.name for s in SERVICES)]
        supervisor = Supervisor(TeePrinter(log_dir, width=max(map(len, names))))
        for name, server in found.embedded.items():
            supervise_server(supervisor, name, server, log_dir / f"{name}.log")
        for spec in SERVICES:
            supervisor.add_command(spec.name, [bin_path(spec.package)], env=env, cwd=root)
        return supervisor.run()


def supervise_server(
    supervisor: Supervisor, name: str, server: EmbeddedNats | EmbeddedPostgres, log_file: Path
) -> None:
    def start() -> subprocess.Popen[bytes]:
        server.start(log_file=log_file)
        assert server.process is not None
        return server.process

    supervisor.add(name, start, lambda _: server.stop(), running=server.process)
