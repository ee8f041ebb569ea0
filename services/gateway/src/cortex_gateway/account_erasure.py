"""Deleting an account (an administrator's `DELETE /admin/users/{id}` or the user's own
`DELETE /auth/me`): the account goes, and with it every chat the user wrote (docs/audit.md,
"Erasure and retention").

The steps, in an order that makes a crash at any point safe to retry (a retry runs them all again,
and each is idempotent):

1. the audit event `user.deleted` (actor, time, the user's id): if it cannot be stored, nothing
   happens. Every gateway empties its API-key cache when it hears it;
2. the user is disabled and their login sessions revoked, committed at once: from here on no
   cookie or API key of theirs works, so no new chat content can arrive;
3. the erasure event (`ChatsErased`, every chat of the user) goes to the erasure stream: the
   sessions service, a durable consumer that retries until it succeeds, deletes the rows and purges
   the chat subjects, their dead-letter copies and chain heads;
4. the account row goes (login sessions and API keys with it: ON DELETE CASCADE).

A crash before step 4 leaves the user listed, disabled: deleting them again finishes the job.
"""

from typing import Literal

from fastapi import HTTPException, Request, status
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cortex_contracts.events.erasure import ChatsErased, ErasedChats
from cortex_gateway import audit
from cortex_gateway.auth import accounts, store
from cortex_gateway.auth.principal import Principal
from cortex_gateway.deps import EventStore
from cortex_gateway.tables import users
from cortex_runtime.jetstream import publish_event

LAST_ADMIN = "This is the last administrator: make another user an administrator first."


async def is_last_admin(db: AsyncConnection, user: accounts.UserView) -> bool:
    """Locks the administrators' rows until the transaction ends (see `other_active_admins`)."""
    return user.role == "admin" and await accounts.other_active_admins(db, user.id) == 0


async def delete_account(
    database: AsyncEngine,
    events: EventStore,
    request: Request,
    actor: Principal,
    user: accounts.UserView,
    by: Literal["admin", "self"],
) -> None:
    """Steps 1 and 2 commit in a transaction of their own, before anything is erased (so not
    in the request's, which commits at its end); 409 for the last administrator."""
    async with database.begin() as conn:
        if await is_last_admin(conn, user):
            raise HTTPException(status.HTTP_409_CONFLICT, detail=LAST_ADMIN)
        await audit.record_by(events, request, actor, "user.deleted", subject_id=user.id, by=by)
        await accounts.set_user_disabled(conn, user.id, True)
        await store.revoke_user_sessions(conn, user.id)
    erasure = ChatsErased(
        aggregate_id=user.id,
        actor=audit.actor_of(actor),
        reason="account_deleted",
        chats=[ErasedChats(user_id=user.id)],
    )
    await publish_event(events.js, events.topology.erasure_subject, erasure)
    async with database.begin() as conn:
        await conn.execute(delete(users).where(users.c.id == user.id))
