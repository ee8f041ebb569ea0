"""The health service's copy of the model registry, kept by following the registry bucket."""

import logging
from collections.abc import Callable

from pydantic import ValidationError

from cortex_contracts.events.models import Upstream
from cortex_contracts.topology import model_name_from_key
from cortex_runtime.kv import KvEntry

log = logging.getLogger(__name__)


class Registry:
    """`on_changed` is called for a new or edited upstream, `on_removed` with a removed name."""

    def __init__(
        self,
        on_changed: Callable[[Upstream], None],
        on_removed: Callable[[str], None],
    ) -> None:
        self._upstreams: dict[str, Upstream] = {}
        self._on_changed = on_changed
        self._on_removed = on_removed

    def get(self, name: str) -> Upstream | None:
        return self._upstreams.get(name)

    def all(self) -> list[Upstream]:
        return list(self._upstreams.values())

    def replace_all(self, entries: list[KvEntry]) -> None:
        found = {u.served_model_name: u for u in map(_parse, entries) if u is not None}
        for name in set(self._upstreams) - set(found):
            self._remove(name)
        for upstream in found.values():
            self._put(upstream)

    def apply(self, entry: KvEntry) -> None:
        if entry.value is None:
            self._remove(_name_of(entry.key))
            return
        upstream = _parse(entry)
        if upstream is not None:
            self._put(upstream)

    def _put(self, upstream: Upstream) -> None:
        if self._upstreams.get(upstream.served_model_name) == upstream:
            return
        self._upstreams[upstream.served_model_name] = upstream
        self._on_changed(upstream)

    def _remove(self, name: str | None) -> None:
        if name is not None and self._upstreams.pop(name, None) is not None:
            self._on_removed(name)


def parse_upstream(value: bytes) -> Upstream | None:
    try:
        return Upstream.model_validate_json(value)
    except ValidationError as error:
        log.warning("ignoring an invalid registry entry: %s", error)
        return None


def _parse(entry: KvEntry) -> Upstream | None:
    return parse_upstream(entry.value) if entry.value is not None else None


def _name_of(key: str) -> str | None:
    try:
        return model_name_from_key(key)
    except ValueError:
        return None
