"""The chaos suite's stack: `make dev`'s own supervisor over embedded NATS and PostgreSQL."""

from collections.abc import Iterator

import pytest

from tests.chaos.devstack import DevStack, dev_stack
from tests.support.backends import server_dir


@pytest.fixture(scope="module")
def dev() -> Iterator[DevStack]:
    with server_dir() as folder, dev_stack(folder) as running:
        yield running
