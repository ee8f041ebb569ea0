"""HTTP clients for the gateway, logged in the way the web UI or an API client would be."""

import httpx

CSRF_COOKIE = "cortex_csrf"


async def login(base_url: str, username: str, password: str) -> httpx.AsyncClient:
    """A cookie-authenticated client that sends the CSRF header like the web UI does."""
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    response = await client.post("/auth/login", json={"username": username, "password": password})
    response.raise_for_status()
    client.headers["X-CSRF-Token"] = client.cookies[CSRF_COOKIE]
    return client


def api_key_client(base_url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {key}"}
    )
