"""GET /v1/models/running: healthy models only (health work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/models", tags=["models"])
