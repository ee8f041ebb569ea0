"""Registering and removing upstream model servers (registry work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin", tags=["admin"])
