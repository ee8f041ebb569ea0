"""DELETE /admin/users/{user_id}: an administrator deletes an account and erases its chats."""

from fastapi import APIRouter, Request, Response, status

from cortex_gateway.account_erasure import delete_account
from cortex_gateway.admin.users import existing_user
from cortex_gateway.auth.dependencies import Admin
from cortex_gateway.deps import Database, Db, Events
from cortex_gateway.openapi import ADMIN, errors

router = APIRouter(prefix="/admin/users", tags=["admin"], responses=errors(*ADMIN))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
async def delete_user(
    user_id: str, admin: Admin, request: Request, db: Db, database: Database, events: Events
) -> Response:
    """The account, its login sessions and API keys go now; its chats are erased from the event
    store and the projections moments later (docs/audit.md). Usage counts stay."""
    user = await existing_user(db, user_id)
    await delete_account(database, events, request, admin, user, by="admin")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
