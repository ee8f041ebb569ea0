"""405 answers name every method the requested path accepts in `Allow`.

Starlette answers 405 from the first route whose path matches, so `Allow` lists that route's
methods only: GET for `/v1/chat/sessions/{id}`, which DELETE accepts too. As in OpenAPI, a literal
path wins over a templated one (`/admin/upstreams/refresh-health` over `/admin/upstreams/{name}`).
"""

import re
from functools import cache

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

# (path regex, number of path parameters, methods) of every route with methods.
RouteTable = tuple[tuple[re.Pattern[str], int, frozenset[str]], ...]


@cache
def route_table(app: FastAPI) -> RouteTable:
    table = []
    for route in iter_route_contexts(app.router.routes):
        if route.path and route.methods:
            regex, _, convertors = compile_path(route.path)
            table.append((regex, len(convertors), frozenset(route.methods)))
    return tuple(table)


def allowed_methods(app: FastAPI, path: str) -> str:
    matching = [
        (params, methods) for regex, params, methods in route_table(app) if regex.match(path)
    ]
    if not matching:
        return ""
    fewest = min(params for params, _ in matching)
    allowed = set().union(*(methods for params, methods in matching if params == fewest))
    return ", ".join(sorted(allowed))


def install_allow_header(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 405:
            allow = allowed_methods(app, request.scope["path"])
            if allow:
                error.headers = {**(error.headers or {}), "Allow": allow}
        return await http_exception_handler(request, error)
