"""Security headers on every answer: the web UI, its assets, the API, errors included.

The built UI loads only its own scripts and styles from /assets (no inline script), so the policy
allows nothing else; `data:` images are for the inline favicon. HSTS is sent only when the request
came over TLS: directly (scope scheme https) or through a trusted proxy's X-Forwarded-Proto, which
uvicorn applies to the scope only for addresses in FORWARDED_ALLOW_IPS.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours
CSP_HEADER = b"content-security-policy"
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
TLS_HEADERS = ((b"strict-transport-security", HSTS.encode()),)
CSP = ((CSP_HEADER, CONTENT_SECURITY_POLICY.encode()),)
# Built once: one of these is added to each answer.
PLAIN, PLAIN_OWN_CSP = (*COMMON_HEADERS, *CSP), COMMON_HEADERS
OVER_TLS, OVER_TLS_OWN_CSP = (*PLAIN, *TLS_HEADERS), (*COMMON_HEADERS, *TLS_HEADERS)


def security_headers(scope: Scope, own_csp: bool = False) -> tuple[tuple[bytes, bytes], ...]:
    """The headers for one answer; `own_csp` when the answer brings its own policy (/docs)."""
    if scope.get("scheme") == "https":
        return OVER_TLS_OWN_CSP if own_csp else OVER_TLS
    return PLAIN_OWN_CSP if own_csp else PLAIN


class SecurityHeaders:
    """ASGI middleware for the FastAPI app (the completions fast path adds the same headers to
    its answers itself, once per response: see completions/entry.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                own_csp = any(name.lower() == CSP_HEADER for name, _ in headers)
                message["headers"] = [*headers, *security_headers(scope, own_csp)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
