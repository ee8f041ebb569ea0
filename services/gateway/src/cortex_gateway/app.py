"""The gateway application: wiring of resources, routers and the web UI."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cortex_gateway import ops, web
from cortex_gateway.admin import audit_trail as admin_audit_trail
from cortex_gateway.admin import audit_verify as admin_audit_verify
from cortex_gateway.admin import bench_limits as admin_bench_limits
from cortex_gateway.admin import health as admin_health
from cortex_gateway.admin import keys as admin_keys
from cortex_gateway.admin import orgs as admin_orgs
from cortex_gateway.admin import parked as admin_parked
from cortex_gateway.admin import retention as admin_retention
from cortex_gateway.admin import upstreams as admin_upstreams
from cortex_gateway.admin import usage as admin_usage
from cortex_gateway.admin import user_deletion as admin_user_deletion
from cortex_gateway.admin import users as admin_users
from cortex_gateway.allow import install_allow_header
from cortex_gateway.api_docs import mount_api_docs
from cortex_gateway.auth import account_deletion
from cortex_gateway.auth import archive as auth_archive
from cortex_gateway.auth import routes as auth_routes
from cortex_gateway.auth.bootstrap import ensure_admin
from cortex_gateway.bench import routes as bench_routes
from cortex_gateway.chat import routes as chat_routes
from cortex_gateway.compare import completions as compare_completions
from cortex_gateway.compare import routes as compare_routes
from cortex_gateway.completions import routes as completion_routes
from cortex_gateway.completions.entry import CompletionsFirst
from cortex_gateway.completions.runtime import CompletionRuntime
from cortex_gateway.db import make_engine
from cortex_gateway.deps import EventStore
from cortex_gateway.errors import install_error_handlers
from cortex_gateway.http_limits import BodyCaps
from cortex_gateway.inspector import routes as inspector_routes
from cortex_gateway.json_body import StorableJsonBodies
from cortex_gateway.models import routes as model_routes
from cortex_gateway.models import running as running_models
from cortex_gateway.models.catalog import ModelCatalog, read_models_file
from cortex_gateway.models.engine import EngineClient
from cortex_gateway.models.health_view import HealthView
from cortex_gateway.openapi import install_openapi
from cortex_gateway.retention import Retention
from cortex_gateway.settings import Settings
from cortex_runtime import anchors
from cortex_runtime.config import configure_logging, load_settings
from cortex_runtime.connection import connect
from cortex_runtime.jetstream import ensure_streams
from cortex_runtime.query import QueryClient

log = logging.getLogger(__name__)

COMPLETION_RECORDS_DRAIN_SEC = 20.0  # answers and usage of streams that ended at shutdown
STARTUP_DB_TIMEOUT_SEC = 60.0


def app_from_environment() -> CompletionsFirst:
    """The app of one gateway process (`cortex-gateway` runs it in CORTEX_GATEWAY_WORKERS
    processes). Every start-up step is safe when workers or replicas start together: streams,
    buckets and the registry seed tolerate racing writers, and the admin is created under a
    database lock (auth/bootstrap.py)."""
    settings = load_settings(Settings, "cortex-gateway")
    configure_logging(settings.log_level)  # a spawned worker starts with bare logging
    return CompletionsFirst(create_app(settings))


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_timeout_sec)
        nc = await connect(settings.nats_url, "cortex-gateway")
        js = nc.jetstream(timeout=settings.nats_timeout_sec)
        await ensure_streams(js, settings.topology)
        events = EventStore(js, settings.topology)
        # Not bounded like a request: workers and replicas starting together create the admin
        # one after the other, under a lock held while the password is hashed.
        setup_engine = make_engine(settings.database_url, 1, STARTUP_DB_TIMEOUT_SEC)
        try:
            await ensure_admin(setup_engine, settings, events)
        finally:
            await setup_engine.dispose()
        baseline = read_models_file(settings.models_file) if settings.models_file else None
        catalog = ModelCatalog()
        for change in await catalog.attach(js, settings.topology, baseline):  # shared, seeded
            await admin_upstreams.record_seeded(events, change)
        health = HealthView(settings.topology)
        await health.start(js)
        queries = QueryClient(nc)
        engines = EngineClient.from_settings(settings)
        completions = CompletionRuntime(
            settings,
            database=engine,
            nats=nc,
            js=js,
            queries=queries,
            catalog=catalog,
            health=health,
            engines=engines,
        )
        await completions.start()
        retention = Retention(engine, events, queries, settings.retention_interval_sec)
        await retention.start()
        # Each under its own name, read back by the dependency of the package that owns its
        # type (deps.py says how).
        app.state.settings = settings
        app.state.database = engine
        app.state.events = events
        app.state.queries = queries
        app.state.catalog = catalog
        app.state.health = health
        app.state.engines = engines
        app.state.completions = completions
        app.state.credentials = completions.credentials
        app.state.readiness = ops.readiness_checks(nc, engine)
        app.state.retention = retention
        # What is loaded by now lives as long as the process: out of the garbage collector's
        # full passes, which otherwise stall requests for ~100 ms every so often.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await retention.stop()
            await completions.stop(COMPLETION_RECORDS_DRAIN_SEC)
            await catalog.detach()
            await health.stop()
            await engines.aclose()
            await anchors.flush()  # the usage subjects' held chain heads
            await nc.drain()
            await engine.dispose()

    app = FastAPI(
        title="Cortex Chat Playground gateway",
        lifespan=lifespan,
        # served by api_docs, behind a login unless CORTEX_GATEWAY_API_DOCS_PUBLIC
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(StorableJsonBodies)
    app.add_middleware(  # outside StorableJsonBodies: what that reads is capped
        BodyCaps, caps=[("/auth/", settings.max_auth_body_bytes)], default=settings.max_body_bytes
    )
    install_error_handlers(app)
    install_allow_header(app)
    install_openapi(app)
    app.include_router(ops.router)
    app.include_router(auth_routes.router)
    app.include_router(auth_archive.router)
    app.include_router(account_deletion.router)
    app.include_router(chat_routes.router)
    app.include_router(inspector_routes.presets)
    app.include_router(inspector_routes.chat_checks)
    app.include_router(running_models.router)  # before model_routes: /running is not a {name}
    app.include_router(model_routes.router)
    app.include_router(completion_routes.router)
    app.include_router(bench_routes.router)
    app.include_router(compare_routes.router)
    app.include_router(compare_completions.router)
    for admin_module in (
        admin_users,
        admin_orgs,
        admin_keys,
        admin_upstreams,
        admin_health,
        admin_usage,
        admin_parked,
        admin_audit_trail,
        admin_user_deletion,
        admin_retention,
        admin_bench_limits,
        admin_audit_verify,
    ):
        app.include_router(admin_module.router)
    mount_api_docs(app, public=settings.api_docs_public)
    web.mount_web(app, settings.web_dist)
    return app
