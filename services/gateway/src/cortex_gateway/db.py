from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(database_url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(database_url, pool_size=pool_size, pool_pre_ping=True)
