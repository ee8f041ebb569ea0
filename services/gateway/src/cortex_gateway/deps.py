"""FastAPI dependencies for the process-wide resources."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from cortex_gateway.settings import Settings
from cortex_gateway.state import AppState


# async: a plain `def` dependency would be sent to the threadpool on every request.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.cortex
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_settings(state: State) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def db_transaction(state: State) -> AsyncIterator[AsyncConnection]:
    """One transaction per request, committed when the handler returns without error."""
    async with state.engine.begin() as conn:
        yield conn


# scope="function": commit before the response is sent, so a client that got its answer can
# read what it wrote (FastAPI's default would commit after sending).
Db = Annotated[AsyncConnection, Depends(db_transaction, scope="function")]
