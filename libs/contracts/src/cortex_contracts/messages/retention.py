"""The retention run asks the sessions service which chats went quiet before a cutoff."""

from datetime import datetime

from pydantic import BaseModel, Field

MAX_STALE_USERS = 500  # user ids per query: the request stays small
MAX_STALE_CHATS = 2_000


class FindStaleChats(BaseModel):
    """Answered with `StaleChats`: the users' chats whose last activity is before `older_than`,
    oldest first."""

    user_ids: list[str] = Field(max_length=MAX_STALE_USERS)
    older_than: datetime
    limit: int = Field(default=MAX_STALE_CHATS, ge=1, le=MAX_STALE_CHATS)


class StaleChat(BaseModel):
    user_id: str
    session_id: str
    updated_at: datetime


class StaleChats(BaseModel):
    chats: list[StaleChat]
