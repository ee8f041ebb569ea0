"""POST /v1/chat/completions (completions work)."""

from fastapi import APIRouter

router = APIRouter(tags=["completions"])
