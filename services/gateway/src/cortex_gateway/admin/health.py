"""Upstream health: GET /admin/upstreams and refresh-health (health work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin", tags=["admin"])
