"""Erasure of chat content: published when a user is deleted or retention removes old chats.

The event names chats by ids only (never their content) and is stored outside the chat subjects
it erases (the erasure stream), so it survives the purge: the sessions service consumes it to
purge the chat subjects, their dead-letter copies and chain heads, and to delete the rows, and a
replica or a rebuild learns of the erasure from it.
"""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from cortex_contracts.envelope import Event

ErasureReason = Literal["account_deleted", "retention"]
MAX_ERASED_CHATS = 2_000  # per event: an event stays far below the NATS message size


class ErasedChats(BaseModel):
    user_id: str = Field(min_length=1, max_length=36)
    #: None: every chat of the user (an account deletion).
    session_ids: list[UUID] | None = None


class ChatsErased(Event):
    """aggregate_id: the deleted user, or the retention run."""

    type: Literal["chat.erased"] = "chat.erased"
    reason: ErasureReason
    chats: list[ErasedChats] = Field(max_length=MAX_ERASED_CHATS)
