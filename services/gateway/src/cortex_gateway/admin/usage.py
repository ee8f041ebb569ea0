"""GET /admin/usage, answered by the usage service (usage work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin", tags=["admin"])
