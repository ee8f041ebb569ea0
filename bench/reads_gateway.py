"""The reads-at-scale benchmark's second half: the same data read through the whole path a user's
browser takes (gateway with its cookie check and read-your-writes position, NATS request, the
sessions service, PostgreSQL), the stack running on the bench's PostgreSQL.

The generated chats belong to user ids no account has and have no events (the gateway asks the
stream for a chat's last event before it reads it), so for the run a fresh account gets 1,000
chats of 10 messages written as events (projected into the million others) and is lent the big
user's 10,000 generated ones. Afterwards its chats are deleted and the lent ones handed back:
the next run finds the data as `make bench-data` left it.
"""

import asyncio
import random
import tempfile
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from pathlib import Path

import nats
import psycopg

from bench.bench_sessions import publish_chats, timed_gets
from bench.projection_replicas import wait_projected
from cortex_contracts.topology import Topology
from cortex_devstack.embedded import EmbeddedNats, EmbeddedPostgres
from cortex_devstack.ports import free_port
from tests.support.clients import login
from tests.support.stack import Stack, base_env, running_stack

PAGE = 50
DEEP_PAGE = 100  # keyset pagination costs the same deep down
OWN_CHATS = 1000
MESSAGES_EACH = 10
BIG_USER_CHATS = 10_000  # bench_reads' big user


@contextmanager
def account_of_the_run(libpq: str, big_user: str, owner: str) -> Iterator[list[str]]:
    """Lends `big_user`'s chats to `owner`; yields the ids of `owner`'s own chats (written
    before, as events), deleted afterwards."""
    with psycopg.connect(libpq, autocommit=True) as conn:
        own = [
            r[0]
            for r in conn.execute(
                "SELECT id::text FROM chat_sessions WHERE user_id = %s", (owner,)
            ).fetchall()
        ]
        conn.execute("UPDATE chat_sessions SET user_id = %s WHERE user_id = %s", (owner, big_user))
        conn.execute("ANALYZE chat_sessions")
    try:
        yield own
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute("DELETE FROM chat_sessions WHERE id::text = ANY(%s)", (own,))
            conn.execute(
                "UPDATE chat_sessions SET user_id = %s WHERE user_id = %s", (big_user, owner)
            )
            conn.execute("DELETE FROM users WHERE id::text = %s", (owner,))


async def _measure(
    stack: Stack, libpq: str, big_user: str, samples: int
) -> list[tuple[str, list[float]]]:
    name, password = stack.create_user()
    topology = Topology(
        prefix=stack.env["CORTEX_NATS_PREFIX"],
        chat_partitions=int(stack.env["CORTEX_CHAT_PARTITIONS"]),
    )
    async with aclosing(await login(stack.gateway_url, name, password)) as client:
        owner = (await client.get("/auth/me")).json()["id"]
        connection = await nats.connect(stack.env["CORTEX_NATS_URL"])
        try:
            js = connection.jetstream()
            last = await publish_chats(js, topology, owner, OWN_CHATS, MESSAGES_EACH)
            await wait_projected(js, topology, last)
        finally:
            await connection.close()
        with account_of_the_run(libpq, big_user, owner) as ids:
            assert len(ids) == OWN_CHATS
            first = await client.get("/v1/chat/sessions", params={"limit": PAGE})
            assert first.status_code == 200, first.text
            cursor = first.json()["next_cursor"]
            for _ in range(DEEP_PAGE - 1):
                cursor = (
                    await client.get("/v1/chat/sessions", params={"limit": PAGE, "cursor": cursor})
                ).json()["next_cursor"]
            assert cursor, "the big user's chats were not lent"
            chats = OWN_CHATS + BIG_USER_CHATS
            rng = random.Random(7)
            await timed_gets(client, [f"/v1/chat/sessions?limit={PAGE}"] * 50)  # warm up
            return [
                (
                    f"through the gateway: list, first page of 50, a user with {chats:,} chats",
                    await timed_gets(client, [f"/v1/chat/sessions?limit={PAGE}"] * samples),
                ),
                (
                    f"through the gateway: list, page {DEEP_PAGE} of {chats // PAGE}",
                    await timed_gets(
                        client, [f"/v1/chat/sessions?limit={PAGE}&cursor={cursor}"] * samples
                    ),
                ),
                (
                    f"through the gateway: get, a chat of {MESSAGES_EACH} messages, that user",
                    await timed_gets(
                        client, [f"/v1/chat/sessions/{rng.choice(ids)}" for _ in range(samples)]
                    ),
                ),
            ]


def through_the_gateway(
    postgres: EmbeddedPostgres, big_user: str, samples: int
) -> list[tuple[str, list[float]]]:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        nats_server = EmbeddedNats(work / "nats", free_port())
        nats_server.start(log_file=work / "nats.log")
        try:
            env = base_env(nats_server.url, postgres.url())
            env["CORTEX_LOG_LEVEL"] = "WARNING"
            with running_stack(env, work) as stack:
                return asyncio.run(_measure(stack, postgres.libpq_url(), big_user, samples))
        finally:
            nats_server.stop()
