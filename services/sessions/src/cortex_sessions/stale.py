"""The retention run's question: which of these users' chats went quiet before a cutoff."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_contracts.messages.retention import FindStaleChats, StaleChat, StaleChats
from cortex_sessions.tables import chat_sessions


async def stale_chats(engine: AsyncEngine, query: FindStaleChats) -> StaleChats:
    """Oldest first, at most `limit` (the next run finds the rest)."""
    if not query.user_ids:
        return StaleChats(chats=[])
    statement = (
        select(chat_sessions.c.user_id, chat_sessions.c.id, chat_sessions.c.updated_at)
        .where(
            chat_sessions.c.user_id.in_(query.user_ids),
            chat_sessions.c.updated_at < query.older_than,
        )
        .order_by(chat_sessions.c.updated_at, chat_sessions.c.id)
        .limit(query.limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return StaleChats(
        chats=[
            StaleChat(user_id=r.user_id, session_id=str(r.id), updated_at=r.updated_at)
            for r in rows
        ]
    )
