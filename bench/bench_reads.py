"""Chat history reads at scale: list and get with 1,000,000 chats and 10,000,000 messages in
PostgreSQL (10,000 users; one user with 10,000 chats, the others ~99 each; 10 messages a chat).

`python -m bench reads`. The data lives in an embedded PostgreSQL kept in `.data/bench-reads`
(`make bench-data` loads it ahead: generated inside PostgreSQL with INSERT ... SELECT
generate_series, no events, several minutes on the 2-core machine); a run finds it there and only
measures. The queries are the sessions service's own (`SessionQueries`, on an engine configured as
the service configures it), sequential, after an ANALYZE; then the big user's list and get
again through the whole stack (bench/reads_gateway.py).
"""

import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from bench.reads_gateway import through_the_gateway
from bench.report import write_section
from cortex_contracts.messages.sessions import GetSession, ListSessions, SessionPage
from cortex_contracts.topology import Topology
from cortex_devstack.embedded import EmbeddedPostgres
from cortex_devstack.ports import free_port
from cortex_sessions.migrate import migrate
from cortex_sessions.queries import READ_CONNECTION_OPTIONS, SessionQueries

DATA_DIR = Path(__file__).resolve().parents[1] / ".data" / "bench-reads"
CHATS = 1_000_000
MESSAGES_PER_CHAT = 10
USERS = 10_000
BIG_USER_CHATS = 10_000
BIG_USER = "bench-user-0"
SAMPLES = 1000
TARGET_P99_MS = 20.0
LOAD_CHUNK = 100_000  # chats per statement (and their messages)

SESSIONS_SQL = """
INSERT INTO chat_sessions (id, user_id, title, auto_title, model_name, engine_type,
    constraints_json, created_at, updated_at, message_count, last_seq)
SELECT md5('s' || i)::uuid,
       CASE WHEN i <= %(big)s THEN 'bench-user-0' ELSE 'bench-user-' || (1 + i %% %(others)s) END,
       'Chat number ' || i, true, 'sim-vllm-small', 'vllm', NULL,
       now() - make_interval(secs => i), now() - make_interval(secs => i), %(each)s,
       i * 100 + %(each)s
FROM generate_series(%(first)s, %(last)s) AS i
"""
MESSAGES_SQL = """
INSERT INTO chat_messages (id, session_id, role, content, metrics_json, created_at)
SELECT i * 100 + k, md5('s' || i)::uuid, CASE WHEN k %% 2 = 0 THEN 'user' ELSE 'assistant' END,
       'Message ' || k || ' of chat ' || i || ': lorem ipsum dolor sit amet, consectetur '
       'adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.',
       NULL, now() - make_interval(secs => i)
FROM generate_series(%(first)s, %(last)s) AS i, generate_series(1, %(each)s) AS k
"""


def server() -> EmbeddedPostgres:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(DATA_DIR / "postgres", free_port())
    postgres.start(log_file=DATA_DIR / "postgres.log")
    return postgres


def loaded_chats(libpq: str) -> int:
    with psycopg.connect(libpq) as conn:
        exists = conn.execute("SELECT to_regclass('chat_sessions') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT count(*) FROM chat_sessions").fetchone()
        return int(row[0]) if row else 0


def load(postgres: EmbeddedPostgres) -> float:
    """Fills the tables (from scratch); returns the seconds it took."""
    started = time.perf_counter()
    migrate(postgres.url())
    libpq = postgres.libpq_url()
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("TRUNCATE chat_messages, chat_sessions, chat_session_tombstones")
        for first in range(1, CHATS + 1, LOAD_CHUNK):
            params = {
                "first": first,
                "last": min(CHATS, first + LOAD_CHUNK - 1),
                "big": BIG_USER_CHATS,
                "others": USERS - 1,
                "each": MESSAGES_PER_CHAT,
            }
            conn.execute(SESSIONS_SQL, params)
            conn.execute(MESSAGES_SQL, params)
            print(f"  {params['last']:,} chats loaded", flush=True)
        conn.execute("VACUUM ANALYZE chat_sessions")
        conn.execute("VACUUM ANALYZE chat_messages")
    return time.perf_counter() - started


def ensure_loaded(postgres: EmbeddedPostgres) -> str:
    if loaded_chats(postgres.libpq_url()) == CHATS:
        return "found in place"
    return f"loaded in {load(postgres):.0f} s"


async def timed(call: Any, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(postgres: EmbeddedPostgres) -> list[tuple[str, list[float]]]:
    engine = create_async_engine(
        postgres.url(),
        pool_size=4,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": READ_CONNECTION_OPTIONS},
    )
    # min_seq 0: no read-your-writes wait, so no stream is asked (js is never used).
    queries = SessionQueries(engine, cast(Any, None), Topology(), 2.0)
    rng = random.Random(7)
    try:
        page = await queries.list(ListSessions(user_id=BIG_USER, limit=50))
        assert isinstance(page, SessionPage) and len(page.sessions) == 50
        cursor = page.next_cursor
        for _ in range(99):  # page 100 of 200
            page = await queries.list(ListSessions(user_id=BIG_USER, limit=50, cursor=cursor))
            assert isinstance(page, SessionPage)
            cursor = page.next_cursor

        def big_user_chat() -> str:
            return str(_uuid_of(rng.randint(1, BIG_USER_CHATS)))

        def any_chat() -> tuple[str, str]:
            i = rng.randint(BIG_USER_CHATS + 1, CHATS)
            return f"bench-user-{1 + i % (USERS - 1)}", str(_uuid_of(i))

        async def get_any() -> None:
            user, chat = any_chat()
            view = await queries.get(GetSession(user_id=user, session_id=chat))
            assert getattr(view, "messages", None), view

        async def get_big() -> None:
            view = await queries.get(GetSession(user_id=BIG_USER, session_id=big_user_chat()))
            assert len(getattr(view, "messages", [])) == MESSAGES_PER_CHAT, view

        await timed(lambda: queries.list(ListSessions(user_id=BIG_USER)), 50)  # warm up
        return [
            (
                f"list, first page of 50, the user with {BIG_USER_CHATS:,} chats",
                await timed(lambda: queries.list(ListSessions(user_id=BIG_USER)), SAMPLES),
            ),
            (
                "list, page 100 of 200 of that user",
                await timed(
                    lambda: queries.list(ListSessions(user_id=BIG_USER, cursor=cursor)), SAMPLES
                ),
            ),
            (
                "list, first page, random users (~99 chats each)",
                await timed(
                    lambda: queries.list(
                        ListSessions(user_id=f"bench-user-{rng.randint(1, USERS - 1)}")
                    ),
                    SAMPLES,
                ),
            ),
            (
                f"get, a chat of {MESSAGES_PER_CHAT} messages, that user",
                await timed(get_big, SAMPLES),
            ),
            (
                f"get, a chat of {MESSAGES_PER_CHAT} messages, random users",
                await timed(get_any, SAMPLES),
            ),
        ]
    finally:
        await engine.dispose()


def _uuid_of(i: int) -> Any:
    import hashlib
    import uuid

    return uuid.UUID(hashlib.md5(f"s{i}".encode()).hexdigest())


def report(load_note: str, rows: list[tuple[str, list[float]]], loads: str) -> str:
    lines = [
        "| query | n | p50 ms | p99 ms | p99 ≤ 20 ms |",
        "|---|---:|---:|---:|---|",
    ]
    for name, samples in rows:
        p99 = percentile(samples, 0.99)
        lines.append(
            f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {p99:.2f} | "
            f"{'yes' if p99 <= TARGET_P99_MS else '**no**'} |"
        )
    return (
        f"{CHATS:,} chats and {CHATS * MESSAGES_PER_CHAT:,} messages of {USERS:,} users "
        f"in PostgreSQL (data {load_note}; `make bench-data` loads it ahead). The sessions "
        "service's queries, in-process, sequential, after ANALYZE; the indexes are the "
        "projection's own: (user_id, updated_at, id) for lists (keyset pages) and "
        '(session_id, id) for a chat\'s messages. The rows "through the gateway" are the '
        "path of a logged-in browser: HTTP to the gateway (cookie check, read-your-writes "
        "position), a NATS request to the sessions service, its query, and back; the big "
        "user's chats are lent to a fresh account for them.\n\n" + "\n".join(lines) + "\n\n"
        f"Load average (1 min) before/after: {loads} on 2 cores. The p50s are the queries' "
        "cost; on a loaded machine the p99s are mostly waits for a core (the `sessions` "
        "section notes the same at 10,000 chats).\n"
    )


def main() -> None:
    postgres = server()
    try:
        load_note = ensure_loaded(postgres)
        if "--load-only" in sys.argv:
            print(f"bench data {load_note}")
            return
        before = os.getloadavg()[0]
        rows = asyncio.run(measure(postgres))
        rows += through_the_gateway(postgres, BIG_USER, SAMPLES)
        body = report(load_note, rows, f"{before:.1f}/{os.getloadavg()[0]:.1f}")
    finally:
        postgres.stop()
    print(body)
    write_section("reads", "python -m bench reads  (data: make bench-data)", body)


if __name__ == "__main__":
    main()
