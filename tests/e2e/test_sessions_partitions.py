"""The sessions projection over partitions (CORTEX_CHAT_PARTITIONS=6 in the test stack): the
replicas share the partitions within one of each other, a replica killed under writes has its
partitions taken over within the stated bound with every event projected once and in order, and a
replica started later takes its share."""

import asyncio
import time
from contextlib import aclosing

import pytest

from cortex_runtime.partitions import TAKEOVER_SEC
from tests.e2e.test_sessions_replicas import assert_applied_once_in_order, burst, principal_of
from tests.support.clients import login
from tests.support.partitions import lease_owners, replica_id, wait_for_shares
from tests.support.processes import ServiceProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

# The bound is TAKEOVER_SEC (5 s): a lease runs out, the next tick of another replica takes it.
# The deadline polled here allows the same again for a loaded, shared machine.
TAKEOVER_DEADLINE_SEC = 2 * TAKEOVER_SEC


async def test_a_killed_replicas_partitions_move_and_a_new_replica_takes_its_share(
    stack: Stack,
) -> None:
    first = stack.processes["sessions"]
    extras = list(
        await asyncio.gather(*(asyncio.to_thread(stack.start_extra, "sessions") for _ in range(2)))
    )
    replicas = [first, *extras]
    victim = extras[0]
    late: ServiceProcess | None = None
    try:
        shares = await wait_for_shares(stack, replicas)
        assert sorted(shares.values()) == [2, 2, 2]
        lost = {
            p for p, owner in (await lease_owners(stack)).items() if owner == replica_id(victim)
        }
        moved_after: list[float] = []

        async def kill_and_time_the_takeover() -> None:
            await asyncio.to_thread(victim.kill)
            killed = time.monotonic()
            survivors = {replica_id(r) for r in replicas if r is not victim}
            while True:
                owners = await lease_owners(stack)
                if all(owners.get(p) in survivors for p in lost):
                    moved_after.append(time.monotonic() - killed)
                    return
                assert time.monotonic() - killed < TAKEOVER_DEADLINE_SEC, owners
                await asyncio.sleep(0.05)

        name, password = stack.create_user()
        async with aclosing(await login(stack.gateway_url, name, password)) as client:
            sent = await burst(
                stack,
                await principal_of(client),
                chats=30,
                per_chat=60,
                after_a_third=kill_and_time_the_takeover,
            )
            assert victim.process is not None and victim.process.returncode == -9
            await assert_applied_once_in_order(stack, client, sent)
        print(f"partitions of the killed replica moved after {moved_after[0]:.1f} s")
        survivors = [r for r in replicas if r is not victim]
        assert sorted((await wait_for_shares(stack, survivors)).values()) == [3, 3]

        late = await asyncio.to_thread(stack.start_extra, "sessions")
        shares = await wait_for_shares(stack, [*survivors, late])
        assert shares[replica_id(late)] == 2 and sorted(shares.values()) == [2, 2, 2]
    finally:
        for process in [*extras, *([late] if late else [])]:
            await asyncio.to_thread(process.stop)
        await wait_for_shares(stack, [first])  # the stack's own replica has them all again
