"""One chaos scenario: load before, during and after a fault; then what users were told is
compared with what the system holds, and what users got during the fault is checked."""

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from tests.chaos.devstack import DevStack
from tests.chaos.ledger import Tally, missing_from_event_store, settle
from tests.chaos.load import ANSWER_BOUND_SEC, Load, Outcome, users_on
from tests.chaos.report import Record, save
from tests.support.chat import topology_of

FULL = os.environ.get("CORTEX_CHAOS") == "full"  # `make chaos`; `make test` runs the short form
USERS = 10 if FULL else 6
WARMUP_SEC = 5.0 if FULL else 2.0  # load before the fault
AFTER_SEC = 10.0 if FULL else 4.0  # load after it ends
FREEZE_SEC = 10.0 if FULL else 5.0

# A fault: does its damage, returns when it is over (time.monotonic() of its end).
Fault = Callable[["Run"], Awaitable[float]]


@dataclass
class Run:
    dev: DevStack
    load: Load
    name: str
    # Answers that the scenario allows besides 2xx and 503 + Retry-After + JSON.
    allowed: set[str] = field(default_factory=set)


async def run_scenario(dev: DevStack, name: str, fault: Fault, allowed: set[str]) -> Record:
    load = await users_on(dev.stack, dev.gateway_urls, USERS)
    run = Run(dev, load, name, allowed)
    try:
        start = time.monotonic()
        load.start()
        await asyncio.sleep(WARMUP_SEC)
        fault_start = time.monotonic()
        fault_end = await fault(run)
        await asyncio.sleep(AFTER_SEC)
        await load.stop()
        outcomes = load.since(start)
        tally = await settle(outcomes, dev.database_url)
        tally.lost += await missing_from_event_store(outcomes, dev.nats_url, topology_of(dev.stack))
        await assert_history_readable(load)
    finally:
        await load.close()
    record = Record.of(name, outcomes, tally, fault_start, fault_end)
    save(record)
    assert_survived(run, outcomes, tally)
    return record


def bad_answers(run: Run, outcomes: list[Outcome]) -> list[str]:
    """Answers that break the promise: a 5xx other than a 503 + Retry-After + JSON, a hang, an
    answer slower than the bound, a refused connection where no gateway died."""
    bad = []
    for o in outcomes:
        what = f"{o.kind} via gateway {o.gateway}: {o.label} after {o.seconds:.1f} s"
        if f"{o.kind} {o.label}" in run.allowed or o.label in run.allowed:
            continue
        if o.status is None:
            bad.append(what)
        elif o.status == 503:
            if not (o.retry_after and o.json_body):
                bad.append(what + " without Retry-After or JSON")
        elif not 200 <= o.status < 300:
            bad.append(what)
        if o.kind != "completion" and o.seconds > ANSWER_BOUND_SEC:
            bad.append(what + f" (over the {ANSWER_BOUND_SEC:g} s bound)")
    return bad


def assert_survived(run: Run, outcomes: list[Outcome], tally: Tally) -> None:
    assert sum(o.acknowledged for o in outcomes) > 0, "no write went through at all"
    assert tally.lost == [], f"{run.name}: acknowledged but lost: {tally.lost[:10]}"
    assert tally.duplicated == [], f"{run.name}: duplicated: {tally.duplicated[:10]}"
    bad = bad_answers(run, outcomes)
    counts = Counter(bad_answer.split(" after ")[0] for bad_answer in bad)
    assert bad == [], f"{run.name}: {len(bad)} bad answers: {dict(counts)}; first: {bad[:5]}"


async def assert_history_readable(load: Load) -> None:
    """Once the fault is over, every user reads their chats' history."""
    for client, _, _ in load.users:
        listed = await client.get("/v1/chat/sessions")
        assert listed.status_code == 200, listed.text
        for chat in listed.json()["sessions"][:3]:
            history = await client.get(f"/v1/chat/sessions/{chat['id']}")
            assert history.status_code == 200, history.text


async def wait_for_gateway(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(600):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
