"""`cortex-admin backup` of a live system under writes, `cortex-admin restore` into a fresh
NATS: the same sequences, the hash chain intact, and projections rebuilt from the restored
store identical to the originals up to the backup point."""

import asyncio
import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from cortex_audit.verify import verify_integrity
from cortex_devstack.embedded import EmbeddedNats
from cortex_devstack.ports import free_port
from tests.chaos.ledger import settle
from tests.chaos.load import users_on
from tests.support.backends import Backends, fresh_database, server_dir
from tests.support.chat import sql, topology_of
from tests.support.processes import console_script
from tests.support.stack import Stack, base_env, migrate, running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WRITING_SEC = 2.0  # writes before and after the backup starts


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    work = tmp_path_factory.mktemp("backup-nats")
    server = EmbeddedNats(work / "nats", free_port())
    server.start(log_file=work / "nats.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(
    backends: Backends, own_nats: EmbeddedNats, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with fresh_database(backends.postgres_url) as database_url:
        env = base_env(own_nats.url, database_url)
        with running_stack(env, Path(tmp_path_factory.mktemp("backup-stack"))) as stack:
            yield stack


async def run_script(script: str, *args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        console_script(script), *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def admin(command: str, path: Path, env: dict[str, str]) -> tuple[int, str]:
    return await run_script("cortex-admin", command, str(path), env=env)


def backup_points(path: Path) -> dict[str, int]:
    """Each stream's last sequence in the backup."""
    with gzip.open(path, "rt") as lines:
        streams = (json.loads(line) for line in lines)
        return {s["config"]["name"]: s["last_seq"] for s in streams if s["type"] == "stream"}


def rows(stack: Stack, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return sql(stack, query, *params)


@pytest.fixture
def server_folder() -> Iterator[Path]:
    with server_dir() as folder:
        yield folder


async def test_a_backup_under_writes_restores_into_identical_projections(
    live: Stack, backends: Backends, tmp_path: Path, server_folder: Path
) -> None:
    env = live.env
    load = await users_on(live, [live.gateway_url], 4)
    load.start()
    await asyncio.sleep(WRITING_SEC)
    made, output = await admin("backup", tmp_path / "store.backup", env)
    await asyncio.sleep(WRITING_SEC)
    await load.stop()
    await load.close()
    assert made == 0, output
    assert (await settle(load.outcomes, live.database_url)).lost == []
    topology = topology_of(live)
    points = backup_points(tmp_path / "store.backup")
    chat_point, usage_point = points[topology.chat_stream], points[topology.usage_stream]
    assert chat_point > 0 and usage_point > 0

    fresh = EmbeddedNats(server_folder / "restored-nats", free_port())
    fresh.start(log_file=server_folder / "restored-nats.log")
    try:
        restored_env = {**env, "CORTEX_NATS_URL": fresh.url}
        loaded, output = await admin("restore", tmp_path / "store.backup", restored_env)
        assert loaded == 0, output
        again, refused = await admin("restore", tmp_path / "store.backup", restored_env)
        assert again != 0 and "not empty" in refused

        client = await nats.connect(fresh.url)
        js = client.jetstream()
        for stream, last in points.items():
            assert (await js.stream_info(stream)).state.last_seq == last, stream
        findings = [f for r in await verify_integrity(js, topology) for f in r.findings]
        await client.close()
        assert findings == []

        with fresh_database(backends.postgres_url) as database_url:
            joined = {"CORTEX_NATS_URL": fresh.url, "CORTEX_DATABASE_URL": database_url}
            rebuilt = Stack(env={**live.env, **joined}, work_dir=tmp_path)
            migrate(rebuilt.env)
            for service in ("sessions", "usage"):
                done, output = await run_script(f"cortex-{service}", "rebuild", env=rebuilt.env)
                assert done == 0, output
            assert_identical_up_to(live, rebuilt, chat_point, usage_point)
    finally:
        fresh.stop()


def assert_identical_up_to(live: Stack, rebuilt: Stack, chat_point: int, usage_point: int) -> None:
    messages = "SELECT * FROM chat_messages WHERE id <= %s ORDER BY id"
    assert rows(rebuilt, messages, chat_point) == rows(live, messages, chat_point)
    assert rows(rebuilt, "SELECT count(*) FROM chat_messages WHERE id > %s", chat_point) == [(0,)]
    untouched_since = "SELECT * FROM chat_sessions WHERE last_seq <= %s ORDER BY id"
    original = rows(live, untouched_since, chat_point)
    ids = [row[0] for row in original]
    same_ids = "SELECT * FROM chat_sessions WHERE id = ANY(%s) ORDER BY id"
    assert rows(rebuilt, same_ids, ids) == original
    assert len(original) > 0
    usage = "SELECT * FROM usage_records WHERE stream_seq <= %s ORDER BY stream_seq"
    assert rows(rebuilt, usage, usage_point) == rows(live, usage, usage_point)
    assert len(rows(live, usage, usage_point)) > 0
