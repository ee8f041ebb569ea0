"""Users, organizations and API keys (accounts work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin", tags=["admin"])
