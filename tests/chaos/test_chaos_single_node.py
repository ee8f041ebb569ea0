"""Chaos under load on the stack as `make dev` runs it (one NATS node, one PostgreSQL, the dev
supervisor restarting what dies): every service killed in turn, NATS and PostgreSQL killed or
frozen, a model server dying mid-stream or hanging. `make test` runs the short form (one fault
of each kind); `make chaos` (CORTEX_CHAOS=full) runs every scenario with longer load."""

import asyncio
import os
import signal
import time

import httpx
import psutil
import psycopg
import pytest

from cortex_devstack.ports import wait_for_port
from tests.chaos.devstack import DevStack
from tests.chaos.scenario import FREEZE_SEC, FULL, Fault, Run, run_scenario
from tests.support.backends import libpq_url
from tests.support.chat import MODEL
from tests.support.outage import frozen, kill

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(900)]

# In-flight requests on a gateway that is killed lose their connection (never acknowledged).
DROPPED = {"refused", "RemoteProtocolError", "ReadError", "WriteError", "cut"}
MODEL_ERRORS = {"completion 502", "completion 503", "completion 504", "completion cut"}


async def ready_again(dev: DevStack, name: str, old_pid: int) -> None:
    """The supervisor started a new process and it serves."""

    def restarted() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if dev.pid_of(name) != old_pid:
                    break
            except LookupError:
                pass
            time.sleep(0.1)
        dev.wait_ready(name)

    await asyncio.to_thread(restarted)


def kill_service(name: str) -> Fault:
    async def fault(run: Run) -> float:
        pid = run.dev.pid_of(name)
        os.kill(pid, signal.SIGKILL)
        await ready_again(run.dev, name, pid)
        return time.monotonic()

    return fault


async def kill_health_then_freeze_it(run: Run) -> float:
    """Killed (restarted by the supervisor), then frozen past the checks' TTL: the running
    models expire from the bucket though no health service is there to remove them."""
    await kill_service("health")(run)
    client = run.load.users[0][0]
    ttl = float(run.dev.env["CORTEX_HEALTH_CHECK_TTL_SEC"])
    with frozen(psutil.Process(run.dev.pid_of("health"))):
        deadline = time.monotonic() + ttl + 30
        while True:
            running = await client.get("/v1/models/running")
            if running.status_code == 200 and not running.json()["models"]:
                break
            assert time.monotonic() < deadline, f"entries did not expire: {running.text}"
            await asyncio.sleep(0.3)
    return time.monotonic()


async def kill_nats(run: Run) -> float:
    kill(psutil.Process(run.dev.pid_of("nats")))
    await asyncio.to_thread(wait_for_port, run.dev.ports["nats"], 120)
    return time.monotonic()


async def kill_postgres(run: Run) -> float:
    kill(psutil.Process(run.dev.pid_of("postgres")))

    def serving() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                psycopg.connect(libpq_url(run.dev.database_url), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.2)

    await asyncio.to_thread(serving)
    return time.monotonic()


def freeze(name: str) -> Fault:
    async def fault(run: Run) -> float:
        with frozen(psutil.Process(run.dev.pid_of(name))):
            await asyncio.sleep(FREEZE_SEC)
        return time.monotonic()

    return fault


async def hang_model(run: Run) -> float:
    url = f"http://127.0.0.1:{run.dev.ports['simulator']}/_control/{MODEL}"
    async with httpx.AsyncClient(timeout=10) as control:
        (await control.post(url, json={"hang": True})).raise_for_status()
        await asyncio.sleep(FREEZE_SEC)
        (await control.post(url, json={"hang": None})).raise_for_status()
    return time.monotonic()


# name -> (fault, answers allowed besides 2xx and 503 + Retry-After + JSON, in the short form)
SCENARIOS: dict[str, tuple[Fault, set[str], bool]] = {
    "gateway killed (-9)": (kill_service("gateway"), DROPPED, True),
    "sessions killed (-9)": (kill_service("sessions"), set(), FULL),
    "health killed (-9), then frozen past the TTL": (kill_health_then_freeze_it, set(), FULL),
    "usage killed (-9)": (kill_service("usage"), set(), FULL),
    "NATS killed (-9)": (kill_nats, set(), True),
    f"NATS frozen {FREEZE_SEC:g} s": (freeze("nats"), set(), FULL),
    "PostgreSQL killed (-9)": (kill_postgres, set(), FULL),
    f"PostgreSQL frozen {FREEZE_SEC:g} s": (freeze("postgres"), set(), True),
    "model server killed mid-stream": (kill_service("simulator"), MODEL_ERRORS, True),
    f"model server hanging {FREEZE_SEC:g} s": (hang_model, MODEL_ERRORS, FULL),
}


@pytest.mark.parametrize("name", [name for name, (_, _, run) in SCENARIOS.items() if run])
async def test_nothing_acknowledged_is_lost_and_outages_answer_503(
    dev: DevStack, name: str
) -> None:
    fault, allowed, _ = SCENARIOS[name]
    await run_scenario(dev, name, fault, allowed)
