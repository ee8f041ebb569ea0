"""`cortex-sessions verify` split over worker processes by partition finds what one process
finds: every difference once, also a live row no event made and a row that was removed."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from cortex_contracts.envelope import Actor
from cortex_contracts.events.chat import MessageAdded, SessionCreated
from cortex_contracts.messages.verify import ProjectionReport
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import ensure_streams
from cortex_sessions.rebuild import rebuild
from cortex_sessions.settings import Settings
from cortex_sessions.verify import partition_shares, verify
from tests.support.backends import Backends, fresh_database, libpq_url
from tests.support.stack import base_env, migrate

pytestmark = pytest.mark.integration

CHATS = 24
MODEL = "m"


@pytest.fixture
def env(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with fresh_database(backends.postgres_url) as database:
        found = {**base_env(backends.nats_url, database), "CORTEX_CHAT_PARTITIONS": "4"}
        migrate(found)
        for name, value in found.items():
            monkeypatch.setenv(name, value)
        yield found


async def publish_chats(settings: Settings) -> list[tuple[str, uuid.UUID]]:
    """CHATS chats of a creation and two messages, interleaved; the live tables rebuilt."""
    topology = settings.topology
    client = await connect(settings.nats_url, "test-verify-parts")
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        chats = [(str(uuid.uuid4()), uuid.uuid4()) for _ in range(CHATS)]
        last = dict.fromkeys((session for _, session in chats), 0)
        for turn in range(3):
            for user, session in chats:
                actor = Actor(user_id=user)
                event = (
                    SessionCreated(
                        aggregate_id=str(session), actor=actor, previous_seq=0,
                        model_name=MODEL, engine_type="vllm",
                    )
                    if turn == 0
                    else MessageAdded(
                        aggregate_id=str(session), actor=actor, previous_seq=last[session],
                        role="user", content=f"message {turn}", model_name=MODEL,
                    )
                )  # fmt: skip
                subject = topology.chat_subject(user, str(session))
                last[session] = (await js.publish(subject, event.to_bytes())).seq
    finally:
        await client.close()
    await rebuild(settings, progress=False)
    return chats


async def verified(workers: int) -> ProjectionReport:
    settings = Settings(verify_workers=workers)
    client = await connect(settings.nats_url, "test-verify-parts")

    async def progress(done: int, total: int) -> None:
        assert done <= total

    try:
        return await verify(settings, client.jetstream(), progress, 100)
    finally:
        await client.close()


def test_partitions_are_dealt_evenly_to_the_workers() -> None:
    assert partition_shares(6, 2) == [(0, 2, 4), (1, 3, 5)]
    assert partition_shares(2, 4) == [(0,), (1,)]  # never a worker without a partition
    assert partition_shares(1, 0) == [(0,)]


async def test_one_process_and_two_find_the_same_differences(env: dict[str, str]) -> None:
    settings = Settings()
    chats = await publish_chats(settings)
    (_, edited), (_, removed) = chats[0], chats[1]
    stranger = uuid.uuid4()  # a live row of a session no event made
    first_message = first_message_id(settings, edited)
    removed_message = first_message_id(settings, removed)
    with psycopg.connect(libpq_url(settings.database_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE chat_messages SET content = 'edited by hand' WHERE id ="
            " (SELECT min(id) FROM chat_messages WHERE session_id = %s)",
            (edited,),
        )
        conn.execute("DELETE FROM chat_messages WHERE id = %s", (removed_message,))
        conn.execute(
            "INSERT INTO chat_sessions SELECT %s, user_id, title, auto_title, model_name,"
            " engine_type, constraints_json, created_at, updated_at, 0, 1"
            " FROM chat_sessions WHERE id = %s",
            (stranger, edited),
        )

    alone, shared = await verified(workers=1), await verified(workers=2)

    for report in (alone, shared):
        assert report.events == 3 * CHATS
        found = {(d.table, d.key, d.column, d.live, d.replayed) for d in report.differences}
        assert (
            "chat_messages", f"[{first_message}]", "content",
            "edited by hand", "message 1",
        ) in found  # fmt: skip
        assert ("chat_sessions", f'["{stranger}"]', "*row*", "present", "absent") in found
        assert ("chat_messages", f"[{removed_message}]", "*row*", "absent", "present") in found
        assert len(report.differences) == report.drift == 3
    assert shared.tables == alone.tables  # the same rows counted, whichever process read them
    assert shared.differences == alone.differences


def first_message_id(settings: Settings, session: uuid.UUID) -> int:
    """The id of the session's first message (its stream sequence), from the live table."""
    with psycopg.connect(libpq_url(settings.database_url)) as conn:
        row = conn.execute(
            "SELECT min(id) FROM chat_messages WHERE session_id = %s", (session,)
        ).fetchone()
    assert row is not None
    return int(row[0])
