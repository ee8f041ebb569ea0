"""Serves the built single-page app: assets as files, every app route as index.html."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

APP_ROUTES = (
    "/chat",
    "/chat/{session_id}",
    "/login",
    "/models",
    "/usage",
    "/users",
    "/compare",
    "/compare/{comparison_id}",
    "/leaderboard",
)

MISSING_BUILD = """<!doctype html><title>Cortex</title><p>The web UI is not built.
Run <code>make web</code> (or <code>make dev</code>, which builds it).</p>"""


def mount_web(app: FastAPI, dist: Path) -> None:
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")

    async def spa() -> FileResponse | HTMLResponse:
        if index.exists():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(MISSING_BUILD, status_code=503)

    for route in APP_ROUTES:
        app.add_api_route(route, spa, methods=["GET"], include_in_schema=False, response_model=None)

    async def root() -> RedirectResponse:
        return RedirectResponse("/chat")

    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
