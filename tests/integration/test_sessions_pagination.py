"""The session list of a user with 10,000 chats: keyset pages walk the index, every chat once."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from cortex_contracts.messages.sessions import ListSessions
from cortex_sessions.queries import (
    READ_CONNECTION_OPTIONS,
    SessionQueries,
    decode_cursor,
    page_statement,
)
from tests.support.backends import Backends, fresh_database, libpq_url
from tests.support.processes import run_command

pytestmark = pytest.mark.integration

HEAVY_USER_SESSIONS = 10_000
OTHER_USERS = 500
SESSIONS_EACH = 10
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def crowded_database(backends: Backends) -> Iterator[tuple[str, str]]:
    """A migrated database: one user with 10,000 chats among 500 users with 10 each. The
    statistics were taken when that user had 3 (autovacuum had no time yet): planned on them
    alone, PostgreSQL would fetch all 10,000 and sort them for every page."""
    with fresh_database(backends.postgres_url) as url:
        migrated = run_command("sessions", "migrate", {"CORTEX_DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stderr
        heavy = str(uuid.uuid4())
        others = [str(uuid.uuid4()) for _ in range(OTHER_USERS) for _ in range(SESSIONS_EACH)]
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            insert_sessions(conn, [*others, *[heavy] * 3])
            conn.execute("ANALYZE chat_sessions")  # then the user makes thousands of chats
            insert_sessions(conn, [heavy] * (HEAVY_USER_SESSIONS - 3))
        yield url, heavy


def insert_sessions(conn: psycopg.Connection, owners: list[str]) -> None:
    columns = (
        "id, user_id, title, auto_title, model_name, engine_type, created_at,"
        " updated_at, message_count, last_seq"
    )
    with conn.cursor().copy(f"COPY chat_sessions ({columns}) FROM STDIN") as copy:
        for n, owner in enumerate(owners):
            moment = START + timedelta(seconds=n // 3)  # ties: the order falls back on the id
            copy.write_row(
                (uuid.uuid4(), owner, f"chat {n}", False, "m", "vllm", moment, moment, 0, n)
            )


def plan_of(url: str, user_id: str, after: tuple[datetime, uuid.UUID] | None) -> str:
    statement = page_statement(user_id, 51, after).compile(dialect=postgresql.dialect())
    sql = str(statement).replace("::VARCHAR", "").replace("::INTEGER", "")
    with psycopg.connect(libpq_url(url), options=READ_CONNECTION_OPTIONS) as conn:
        rows = conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, statement.params
        ).fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("page", ["first", "deep"])
def test_a_page_is_read_from_the_index_without_sorting(
    crowded_database: tuple[str, str], page: str
) -> None:
    url, heavy = crowded_database
    after = None if page == "first" else (START + timedelta(seconds=1_000), uuid.UUID(int=0))

    plan = plan_of(url, heavy, after)

    assert "Index Scan Backward using ix_chat_sessions_user_recent" in plan, plan
    assert "Sort" not in plan, plan
    assert "rows=51" in plan.splitlines()[0], plan  # it stops after one page


async def test_walking_all_pages_returns_every_chat_once_newest_first(
    crowded_database: tuple[str, str],
) -> None:
    url, heavy = crowded_database
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"options": READ_CONNECTION_OPTIONS}
    )
    queries = SessionQueries(engine, js=None, topology=None, timeout=1)  # type: ignore[arg-type]
    seen: list[tuple[datetime, str]] = []
    cursor = None
    try:
        while True:
            page = await queries.list(ListSessions(user_id=heavy, limit=200, cursor=cursor))
            assert not hasattr(page, "error"), page
            seen += [(s.updated_at, s.id) for s in page.sessions]  # type: ignore[union-attr]
            cursor = page.next_cursor  # type: ignore[union-attr]
            if cursor is None:
                break
            decode_cursor(cursor)
    finally:
        await engine.dispose()

    assert len(seen) == HEAVY_USER_SESSIONS
    assert len({session_id for _, session_id in seen}) == HEAVY_USER_SESSIONS
    assert seen == sorted(seen, key=lambda s: (s[0], uuid.UUID(s[1])), reverse=True)
