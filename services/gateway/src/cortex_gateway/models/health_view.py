"""The gateway's in-memory view of model health (the health work fills this in by watching the
health bucket; until then every registered model counts as available)."""

from nats.js import JetStreamContext

from cortex_contracts.events.models import ModelHealth


class HealthView:
    async def start(self, js: JetStreamContext) -> None:
        return None

    async def stop(self) -> None:
        return None

    def get(self, name: str) -> ModelHealth | None:
        return None

    def is_available(self, name: str) -> bool:
        return True
