"""405 answers name every method the requested path accepts in `Allow`.

Starlette answers 405 from the first route whose path matches, so `Allow` lists that route's
methods only: GET for `/v1/chat/sessions/{id}`, which DELETE accepts too. As in OpenAPI, a literal
path wins over a templated one (`/admin/upstreams/refresh-health` over `/admin/upstreams/{name}`).
"""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Route


def allowed_methods(request: Request) -> str:
    routes = [
        route
        for route in request.app.router.routes
        if isinstance(route, Route)
        and route.methods
        and route.matches(request.scope)[0] is not Match.NONE
    ]
    if not routes:
        return ""
    fewest = min(len(route.param_convertors) for route in routes)
    methods = {
        method
        for route in routes
        if len(route.param_convertors) == fewest
        for method in route.methods or ()
    }
    return ", ".join(sorted(methods))


def install_allow_header(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 405:
            allow = allowed_methods(request)
            if allow:
                error.headers = {**(error.headers or {}), "Allow": allow}
        return await http_exception_handler(request, error)
