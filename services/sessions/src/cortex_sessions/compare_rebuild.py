"""The comparisons projection rebuilt by replay (run by `cortex-sessions rebuild`, after the chat
tables).

The compare stream is small (a handful of events per comparison), so the rebuild is one
transaction: the three tables are locked against the live projection's writes (EXCLUSIVE: queries
keep reading), emptied, and every event of the stream is applied again with the live rules
(`compare_projection.apply`). Live writes that waited on the lock then find their positions
passed, or apply on top.
"""

import logging
import time

from pydantic import ValidationError
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from cortex_contracts.events.compare import parse_comparison_event
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.reader import StreamReader
from cortex_sessions.compare_projection import Early, apply
from cortex_sessions.compare_tables import comparison_panes, comparison_votes, comparisons
from cortex_sessions.settings import Settings

log = logging.getLogger(__name__)

TABLES = (comparisons, comparison_panes, comparison_votes)
READ_TIMEOUT_SEC = 5.0


async def rebuild_comparisons(settings: Settings) -> tuple[int, float]:
    """Replays the compare stream into the comparison tables; (events applied, seconds)."""
    started = time.perf_counter()
    topology = settings.topology
    client = await connect(settings.nats_url, "cortex-sessions-rebuild-comparisons")
    engine = create_async_engine(settings.database_url, pool_size=1)
    applied = 0
    try:
        js = client.jetstream()
        await ensure_streams(js, topology)
        reader = StreamReader(js, topology.compare_stream, topology.compare_all_subjects)
        async with engine.begin() as conn:
            names = ", ".join(table.name for table in TABLES)
            await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
            for table in TABLES:
                await conn.execute(delete(table))
            target = await reader.last_seq()
            await reader.start()
            try:
                seen = 0
                while seen < target:
                    batch = await reader.take(READ_TIMEOUT_SEC)
                    if not batch:
                        break
                    for stored in batch:
                        seen = stored.seq
                        applied += await _apply_one(conn, stored.subject, stored.data, stored.seq)
            finally:
                await reader.stop()
    finally:
        await engine.dispose()
        await client.close()
    return applied, time.perf_counter() - started


async def _apply_one(conn: AsyncConnection, subject: str, data: bytes, seq: int) -> int:
    try:
        event = parse_comparison_event(data)
    except ValidationError:
        return 0  # parked by the live projection too
    parts = subject.split(".")
    try:
        await apply(conn, event, seq, parts[-2] if len(parts) >= 2 else "")
    except Early:  # its comparison's creation was not readable
        return 0
    return 1
