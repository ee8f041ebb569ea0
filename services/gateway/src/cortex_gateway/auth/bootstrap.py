"""First start: create the admin account. No default password: generate one if none is given."""

import logging
import os

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from cortex_gateway import audit
from cortex_gateway.auth import store
from cortex_gateway.auth.secrets import generate_password, hash_password_off_loop
from cortex_gateway.deps import EventStore
from cortex_gateway.settings import Settings
from cortex_gateway.tables import orgs

log = logging.getLogger(__name__)


async def ensure_default_org(engine: AsyncEngine) -> str:
    async with engine.begin() as conn:
        await conn.execute(
            insert(orgs)
            .values(
                id="00000000-0000-0000-0000-000000000001",
                name=store.DEFAULT_ORG,
                created_at=store.now(),
            )
            .on_conflict_do_nothing()
        )
        return await store.ensure_org(conn, store.DEFAULT_ORG)


async def ensure_admin(engine: AsyncEngine, settings: Settings, events: EventStore) -> None:
    org_id = await ensure_default_org(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(7041958212)")  # replicas starting together
        )
        if await store.find_user_by_name(conn, settings.admin_username):
            return
        if settings.admin_password is not None:
            password = settings.admin_password.get_secret_value()
        else:
            password = generate_password()
            _announce_generated_password(settings, password)
        password_hash = await hash_password_off_loop(password)
        user_id = await store.create_user(
            conn, settings.admin_username, password_hash, "admin", org_id
        )
        # Before the commit, like every audited change: no first admin without its event.
        await audit.record(
            events,
            "user.created",
            subject_id=user_id,
            username=settings.admin_username,
            role="admin",
            org_id=org_id,
            by="startup",
        )
        log.info("created admin account %r", settings.admin_username)


def _announce_generated_password(settings: Settings, password: str) -> None:
    """Printed once; kept in a private file when one is configured (make dev's data folder)."""
    print(
        f"Generated password for admin account {settings.admin_username!r}: {password}  "
        "(shown once; set CORTEX_ADMIN_PASSWORD to choose your own)",
        flush=True,
    )
    if settings.admin_password_file is not None:
        settings.admin_password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(settings.admin_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as password_file:
            password_file.write(password + "\n")
