"""GET /v1/models/{name}/constraints, POST /v1/models/{name}/tokenize (registry work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/models", tags=["models"])
