"""/openapi.json and /docs (Swagger UI): public, or for logged-in users only (the default), by
CORTEX_GATEWAY_API_DOCS_PUBLIC.

The Swagger UI page loads its script and styles from the jsDelivr CDN and starts with one inline
script: its Content-Security-Policy allows that CDN and exactly that script (by its hash), where
the rest of the app allows only its own files.
"""

import base64
import hashlib
import re
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from cortex_gateway.auth.dependencies import require_user

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
CDN = "https://cdn.jsdelivr.net"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def mount_api_docs(app: FastAPI, public: bool) -> None:
    """`app` is created with openapi_url and docs_url None: these routes take their place."""
    dependencies = [] if public else [Depends(require_user)]
    page = get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=f"{app.title} - API")
    html = bytes(page.body)
    headers = {"Content-Security-Policy": docs_policy(html.decode())}

    async def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document)

    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    app.add_api_route(
        OPENAPI_PATH, openapi, methods=["GET"], include_in_schema=False, dependencies=dependencies
    )
    app.add_api_route(
        DOCS_PATH, docs, methods=["GET"], include_in_schema=False, dependencies=dependencies
    )


def docs_policy(html: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {CDN} {hashes}",
            f"style-src 'self' {CDN} 'unsafe-inline'",  # Swagger UI styles its elements inline
            "img-src 'self' data: https:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )
