"""Cost of authentication per request: GET /auth/me by session cookie and by API key, against an
unauthenticated GET /healthz in the same run; and /healthz while Argon2 logins are running, to
show that password hashing stays off the event loop.

`python -m bench auth` (real gateway process, embedded NATS and PostgreSQL).
"""

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx

from bench.report import write_section
from cortex_gateway.auth import store
from cortex_gateway.auth.secrets import hash_password, verify_password
from cortex_gateway.db import make_engine
from tests.support.backends import fresh_database, start_backends
from tests.support.processes import ServiceProcess
from tests.support.stack import base_env, migrate

ROUNDS = 2000  # requests per variant, interleaved so that machine noise hits all alike
LOGINS = 8


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.2f} | {percentile(ms, 0.99):.2f} |"


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


async def lookups_alone(database_url: str, token: str, key: str) -> dict[str, list[float]]:
    """The credential checks themselves, in-process: what every authenticated request pays."""
    engine = make_engine(database_url, pool_size=2, timeout_sec=2.0)
    idle = timedelta(hours=8)
    results: dict[str, list[float]] = {"cookie": [], "key": []}
    try:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            async with store.lookup_connection(engine) as conn:
                assert await store.find_login_session(conn, token, idle) is not None
            results["cookie"].append(time.perf_counter() - started)
            started = time.perf_counter()
            async with store.lookup_connection(engine) as conn:
                assert await store.find_api_key(conn, key) is not None
            results["key"].append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return results


def argon2_verifications(count: int = 5) -> list[float]:
    stored = hash_password("a password of reasonable length")
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        verify_password(stored, "a password of reasonable length")
        samples.append(time.perf_counter() - started)
    return samples


async def measure(url: str, database_url: str, admin_password: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=60) as cookie_client:
        login_started = time.perf_counter()
        login = await cookie_client.post(
            "/auth/login", json={"username": "admin", "password": admin_password}
        )
        login.raise_for_status()
        login_time = time.perf_counter() - login_started
        me = (await cookie_client.get("/auth/me")).json()
        cookie_client.headers["X-CSRF-Token"] = cookie_client.cookies["cortex_csrf"]
        created = await cookie_client.post("/admin/keys", json={"user_id": me["id"]})
        created.raise_for_status()
        key = created.json()["key"]
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as anonymous,
            httpx.AsyncClient(
                base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}
            ) as key_client,
        ):
            for _ in range(50):  # warm up connections and code paths
                await anonymous.get("/healthz")
                await cookie_client.get("/auth/me")
                await key_client.get("/auth/me")
            results: dict[str, list[float]] = {"healthz": [], "cookie": [], "key": []}
            for _ in range(ROUNDS):
                results["healthz"].append(await timed(lambda: anonymous.get("/healthz")))
                results["cookie"].append(await timed(lambda: cookie_client.get("/auth/me")))
                results["key"].append(await timed(lambda: key_client.get("/auth/me")))

            during_logins = await healthz_during_logins(url, anonymous, admin_password)
        lookups = await lookups_alone(database_url, cookie_client.cookies["cortex_session"], key)

    table = "\n".join(
        [
            "| request | n | p50 ms | p99 ms |",
            "|---|---|---|---|",
            row("GET /healthz (no auth, baseline)", results["healthz"]),
            row("GET /auth/me by session cookie", results["cookie"]),
            row("GET /auth/me by API key (Bearer)", results["key"]),
            row(f"GET /healthz while {LOGINS} logins run", during_logins),
            row("session cookie check alone (in-process)", lookups["cookie"]),
            row("API key check alone (in-process)", lookups["key"]),
            row("one Argon2id verification (for comparison)", argon2_verifications()),
        ]
    )
    overhead_cookie = statistics.median(results["cookie"]) - statistics.median(results["healthz"])
    overhead_key = statistics.median(results["key"]) - statistics.median(results["healthz"])
    return f"""{table}

One login (Argon2id verification, once per login, in a worker thread): {login_time * 1000:.0f} ms.
`/auth/me` over the unauthenticated baseline (median): cookie {overhead_cookie * 1000:.2f} ms,
API key {overhead_key * 1000:.2f} ms; that is the credential check (one indexed lookup of a
SHA-256 hash on a short autocommit connection, rows "check alone") plus the handler's own query
of the user. No slow hash runs per request: the original system spent ~250 ms in bcrypt on every
API request; Argon2id runs only at login and password changes, in a worker thread, and the
event loop keeps answering meanwhile (row "while logins run").
"""


async def healthz_during_logins(
    url: str, anonymous: httpx.AsyncClient, admin_password: str
) -> list[float]:
    async def one_login() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            response = await client.post(
                "/auth/login", json={"username": "admin", "password": admin_password}
            )
            response.raise_for_status()

    logins = asyncio.gather(*(one_login() for _ in range(LOGINS)))
    samples = []
    while not logins.done():
        samples.append(await timed(lambda: anonymous.get("/healthz")))
    await logins
    return samples


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_backends(Path(tmp)) as backends,
        fresh_database(backends.postgres_url) as database_url,
    ):
        env = base_env(backends.nats_url, database_url)
        migrate(env)
        gateway = ServiceProcess("gateway", env).start()
        try:
            body = asyncio.run(
                measure(gateway.url, database_url, env["CORTEX_GATEWAY_ADMIN_PASSWORD"])
            )
        finally:
            gateway.stop()
    print(body)
    write_section("auth", "python -m bench auth", body)


if __name__ == "__main__":
    main()
